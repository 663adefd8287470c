"""Routes of the reports blueprint (see salve/reports/views.py)."""

from __future__ import annotations
