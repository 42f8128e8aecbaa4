"""The public status page: components and their status, public incidents and their updates,
scheduled maintenance, subscribers, the Statuspage-compatible JSON and the feeds."""
