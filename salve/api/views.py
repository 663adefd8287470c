"""The JSON API: placeholder blueprint, filled in by the API work."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
