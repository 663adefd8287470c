"""The append-only audit log: every write, every read of a child's record, every refusal."""
