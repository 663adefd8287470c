"""Real components the tests start: PostgreSQL in a temporary directory, the app server."""
