"""Invented demo country for trying SALVE and benchmarking it."""

#: The password of every demo account; ``make run`` prints it. Demo accounts never reach
#: production: the app refuses to start there while any ``is_demo`` account exists.
DEMO_PASSWORD = "salve-demo-2026"  # noqa: S105
