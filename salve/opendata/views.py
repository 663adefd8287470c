"""Public pages of open data (no sign-in)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("opendata", __name__, url_prefix="/datos-abiertos")
