"""Incident pages: placeholder blueprint, filled in by the reporting work."""

from flask import Blueprint

bp = Blueprint("incidents", __name__, url_prefix="/incidentes")
