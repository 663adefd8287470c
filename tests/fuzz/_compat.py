"""Let schemathesis 3 generate objects with the Hypothesis this project installs.

schemathesis 3 generates JSON objects (request bodies, and every operation's query parameters)
through hypothesis-jsonschema 0.23, which drives Hypothesis' private ``many`` helper with its
old ``more()`` method. Recent Hypothesis replaced ``more()`` with iteration inside a ``with``
block, so every object schema failed with ``AttributeError: 'many' object has no attribute
'more'``. This adds ``more()`` back, written on the new protocol, only when it is missing.
The alternative is pinning an older Hypothesis for the whole suite.
"""

from __future__ import annotations

from hypothesis.internal.conjecture import utils as conjecture_utils


def _more(self) -> bool:
    """Tell whether to draw one more element (the old API), entering the block on first use."""
    if getattr(self, "_legacy_elements", None) is None:
        self.__enter__()
        self._legacy_elements = iter(self)
    try:
        next(self._legacy_elements)
    except StopIteration:
        self.__exit__(None)
        return False
    return True


def install() -> None:
    """Give ``many`` its old ``more()`` method if this Hypothesis lacks it."""
    if not hasattr(conjecture_utils.many, "more"):
        conjecture_utils.many.more = _more
