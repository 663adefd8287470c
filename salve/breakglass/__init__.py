"""Break the glass: time-limited, audited access to students' names outside one's scope."""
