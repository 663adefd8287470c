"""Lists that run over several pages: the page a request asks for, and one page of a query."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import request

from salve.extensions import db


def page_number() -> int:
    """Return the page the request asks for (``?pagina=N``), 1 when absent or malformed."""
    try:
        return max(1, int(request.args.get("pagina", "1")))
    except ValueError:
        return 1


@dataclass
class Page:
    """One page of a longer list."""

    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Return the number of pages."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(query: sa.Select, page: int, per_page: int) -> Page:
    """Run ``query`` for one page and count the whole."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    page = min(max(page, 1), max(1, -(-total // per_page)))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)
