"""Post-incident reviews and their action items: the review a resolved incident owes, its
draft written from the record, its status, and the action items it leaves behind."""
