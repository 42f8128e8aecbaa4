"""Post-incident reviews and their action items (the review a resolved incident owes, its
draft written from the record, its status, the action items it leaves behind), and drills
(the policy's drill programme as clocks, drill incidents and their outcomes)."""
