"""Regional and national views: ranked school risk lists, school analytics, national figures.

One blueprint; each page lives in its own module, imported below so its routes register.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reportes")

from salve.reports import analytics_views, department_views, national_views  # noqa: E402, F401
