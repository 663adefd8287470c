"""Maintenance: backups and restores, retention periods, legal holds and anonymisation."""
