"""A fixed corpus of what attackers and broken clients type into text fields.

Each entry is put into every text field of every form, every string property of the API's
bodies and the query strings of the list pages (tests/fuzz/test_hostile.py). The corpus is
fixed, not generated, so a failure names the exact input and reproduces on every run.
"""

from __future__ import annotations

#: Markup and template syntax: must come back escaped, never run or evaluated.
MARKUP = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{{7*'7'}}",  # Jinja would render 7777777: a probe no page shows by chance
    "{% raw %}",
    "${7*7}",
)
#: SQL: must be stored as typed, never run.
SQL = (
    "' OR '1'='1",
    "'; DROP TABLE incidents;--",
)
#: Spreadsheet formulas: exports must neutralise cells that start like these (SECURITY.md 15).
FORMULAS = (
    "=cmd|' /C calc'!A0",
    "+SUM(1)",
    "-1+1",
    "@SUM(1)",
    "\t=1",
    "\r=1",
)
#: Paths that try to climb out of a folder.
TRAVERSAL = (
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2f",
)
#: Unicode that breaks naive code: right-to-left override, zero-width joiner, an emoji.
UNICODE = (
    "abc\u202edcba",
    "a\u200db",
    "👩\u200d👧 😀",
)
#: Spanish (El Salvador) text: must round-trip exactly.
SPANISH = ("Niña pequeña, José Ñúñez; «acoso» en el baño — ¿qué pasó? ¡Atención! Ü",)
#: Strings that look like other JSON values or numbers.
LOOKALIKES = ("null", "NaN", "-0", "1e309")

#: A NUL character: PostgreSQL cannot store it in text; it must be refused cleanly (no 500).
NUL = "antes\x00después"
#: A lone surrogate: JSON can carry one escaped (``"\\ud800"``); no database stores it.
SURROGATE = "\ud800"
#: Bytes that are not UTF-8, as a broken client sends them raw in a form or a query string.
INVALID_UTF8 = b"\xff\xfe"
#: Bigger than a field allows but within the request limit: refused with the field's message.
LONG_100K = "ñ" * 100_000
#: Bigger than the whole request may be (``MAX_CONTENT_LENGTH``, 2 MB): a 413 page.
HUGE_10M_SIZE = 10 * 1024 * 1024

#: Every short entry; the long ones are tried separately (they are slow to send everywhere).
CORPUS: tuple[str, ...] = (
    *MARKUP,
    *SQL,
    *FORMULAS,
    *TRAVERSAL,
    *UNICODE,
    *SPANISH,
    *LOOKALIKES,
)
#: Characters that begin a cell a spreadsheet would run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def huge() -> str:
    """Return the 10 MB string (built on demand: it is not kept in memory between tests)."""
    return "a" * HUGE_10M_SIZE
