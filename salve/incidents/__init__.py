"""Incident reports: filing, completing, validating and amending them; never deleting."""
