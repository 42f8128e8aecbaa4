"""Evidence an auditor can trust: signed checkpoints over every timeline, witnesses outside
the database, verification, and the auditor's bundle. See docs/audit.md."""
