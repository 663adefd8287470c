"""Open data: aggregate incident counts for the public, with small cells suppressed."""
