"""Application logging that never carries what users typed into a URL.

Searches put names and NIEs in query strings (``/incidentes/estudiantes?q=…``); the development
server's access log would print them. SECURITY.md item 20: no personal data in logs.

The development server logs with positional arguments (``record.args`` a tuple). gunicorn logs
``access_log_format % atoms``: ``record.args`` is one dict of atoms, where the query string is
whole in ``q`` and ``{query_string}e`` and part of ``r`` (the request line), ``f`` (the
referer), the request and response headers (``{…}i``, ``{…}o``, e.g. a ``Location`` whose
``next=`` holds the search) and the WSGI environ (``{raw_uri}e``, and objects such as
``{werkzeug.request}e`` whose text shows the URL).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_QUERY = re.compile(r"\?[^\s\"]*")
#: gunicorn atoms holding a query string without its ``?``.
_BARE_QUERY_ATOMS = frozenset({"q", "{query_string}e"})


def _without_query(value):
    """Return ``value`` with every URL query string replaced by ``?…``; numbers as they are."""
    if value is None or isinstance(value, int | float):
        return value
    return _QUERY.sub("?…", value if isinstance(value, str) else str(value))


class DropQueryStrings(logging.Filter):
    """Replace every URL query string in a log record with ``?…``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _QUERY.sub("?…", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub("?…", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, Mapping):
            # Rewritten in place: gunicorn's SafeAtoms answers "-" for a missing atom and reads
            # header names case-insensitively, which a plain dict would not.
            atoms = record.args if isinstance(record.args, dict) else dict(record.args)
            for key, value in atoms.items():
                if key in _BARE_QUERY_ATOMS:
                    atoms[key] = "…" if value else value
                else:
                    atoms[key] = _without_query(value)
            record.args = atoms
        return True


def init_app(app) -> None:
    """Strip query strings from the access logs of the development server and gunicorn."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
            logger.addFilter(DropQueryStrings())
