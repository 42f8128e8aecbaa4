"""Communications: the policy's audiences, templates, communication tree, update cadence,
reminders and breach notices, and the war room.

Every message leaves through the outbox (tocsin.notify) as one row per recipient, and is a
timeline event on its incident. Who a person is and how they want to be reached is on-call's
business: comms asks a `Directory` (tocsin.comms.recipients) that the layers above pass in.
"""
