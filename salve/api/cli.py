"""``salve token``: placeholder, filled in by the API work."""


def register(group) -> None:
    """Add the token commands to ``group``."""
