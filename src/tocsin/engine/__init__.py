"""The durable engine: a loop that claims due rows from the database and acts on them."""
