"""The open data page, its CSV and the public API: no small count ever shows, for any grouping."""

from __future__ import annotations

import csv
import html as markup
import io
import re

import pytest

from salve.opendata.views import PAGE_NAMES
from tests.api.conftest import Api
from tests.opendata.conftest import GROUPINGS

PAGE_NAME = {dim: name for name, dim in PAGE_NAMES.items()}
CELL = re.compile(r'<td class="num" data-status="(\w+)">(.*?)</td>', re.S)
PAGES = re.compile(r"Página (\d+) de (\d+)")


def page_url(by, **extra) -> str:
    """Return the page's URL for a grouping, as its form sends it (an empty "por" first)."""
    query = "&".join(["por=", *(f"por={PAGE_NAME[dim]}" for dim in by)])
    query += "".join(f"&{key}={value}" for key, value in extra.items())
    return f"/datos-abiertos/?{query}"


def page_cells(html: str) -> list[tuple[str, str]]:
    """Return (status, shown text) of every count cell of a page's table."""
    return [
        (status, markup.unescape(re.sub(r"<[^>]+>", "", text)).strip())
        for status, text in CELL.findall(html)
    ]


def as_number(text: str) -> int | None:
    """Return a shown count as a number, or None for a marker ("<5", "s")."""
    digits = text.replace(",", "")
    return int(digits) if digits.isdigit() else None


def read_csv(data: bytes) -> list[dict]:
    """Return a downloaded CSV's rows (UTF-8 with a byte-order mark)."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def assert_no_small_count(value, *, sensitive: bool = False) -> None:
    """A published number is 0 or at least the threshold (10 for sexual violence)."""
    number = value if isinstance(value, int) else as_number(str(value))
    if number is not None:
        assert not 1 <= number <= (9 if sensitive else 4), (value, sensitive)


@pytest.mark.parametrize("by", GROUPINGS, ids=lambda by: ",".join(by) or "total")
def test_no_count_from_1_to_4_in_the_page_the_csv_or_the_api(client, app, seeded, by):
    api = Api(app, client)  # no token: public; every answer checked against the OpenAPI
    answer = api.get(f"/api/v1/open/incidents?by={','.join(by)}")
    assert answer.status_code == 200
    items = answer.json["items"]
    assert len(items) >= 1
    for item in items:
        assert list(item) == [*by, "count"]  # the dimensions in the order asked
        sensitive = item.get("category", {}).get("code") == "sexual"
        assert_no_small_count(item["count"], sensitive=sensitive)

    api_csv = client.get(f"/api/v1/open/incidents?by={','.join(by)}&format=csv")
    assert api_csv.status_code == 200 and api_csv.mimetype == "text/csv"
    rows = read_csv(api_csv.data)
    assert len(rows) == len(items)
    for row in rows:
        assert_no_small_count(row["count"], sensitive=row.get("category") == "sexual")

    page_csv = client.get(page_url(by, formato="csv"))
    assert page_csv.status_code == 200
    assert "attachment" in page_csv.headers["Content-Disposition"]
    rows = read_csv(page_csv.data)
    assert len(rows) == len(items)
    for row in rows:
        sensitive = row.get("Categoría de violencia (código)") == "sexual"
        assert_no_small_count(row["Incidentes"], sensitive=sensitive)

    first = client.get(page_url(by))
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    pages = int(PAGES.search(html).group(2)) if PAGES.search(html) else 1
    # Every page of the smaller tables; the first and the last of the big ones.
    numbers = range(2, pages + 1) if pages <= 10 else [pages]
    htmls = [html] + [client.get(page_url(by, pagina=n)).get_data(as_text=True) for n in numbers]
    shown = [cell for page in htmls for cell in page_cells(page)]
    assert shown
    for status, text in shown:
        assert_no_small_count(text)
        if status != "publicado":
            assert text in ("<5", "<10", "s")


def test_counts_that_are_large_enough_are_published(client, seeded):
    by_category = client.get("/api/v1/open/incidents?by=category").json["items"]
    counts = {item["category"]["code"]: item["count"] for item in by_category}
    # 12 + 2 bullying reports at school A and 3 at school C; the unfounded report is left out.
    assert counts["acoso_escolar"] == 17
    total = client.get("/api/v1/open/incidents").json["items"]
    assert total == [{"count": 12 + 7 + 6 + 2 + 3}]


def test_sexual_violence_has_the_higher_threshold(client, seeded):
    # Six reports of sexual violence: above the general threshold, below the sexual one.
    items = client.get("/api/v1/open/incidents?by=category").json["items"]
    sexual = next(item for item in items if item["category"]["code"] == "sexual")
    assert sexual["count"] == "<10"
    for by in GROUPINGS:
        if "category" not in by:
            continue
        for item in client.get(f"/api/v1/open/incidents?by={','.join(by)}").json["items"]:
            if item["category"]["code"] == "sexual":
                assert item["count"] in (0, "<10", "s") or item["count"] >= 10


def test_the_thresholds_are_configurable(client, app, seeded, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN_DATA_THRESHOLD", 3)
    monkeypatch.setitem(app.config, "OPEN_DATA_SEXUAL_THRESHOLD", 6)
    answer = client.get("/api/v1/open/incidents?by=department,category").json
    assert answer["suppression"]["threshold"] == 3
    assert answer["suppression"]["category_thresholds"] == {"sexual": 6}
    counts = {(i["department"]["code"], i["category"]["code"]): i["count"] for i in answer["items"]}
    assert counts[("05", "acoso_escolar")] in (3, "s")  # 3 is no longer small
    assert counts[("06", "sexual")] in (6, "s")


def test_anyone_may_read_it_without_signing_in(client):
    page = client.get("/datos-abiertos/")
    assert page.status_code == 200
    assert "/ingresar" not in (page.location or "")
    answer = client.get("/api/v1/open/incidents?by=month")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=3600"
    assert "Set-Cookie" not in answer.headers
    assert len(answer.json["items"]) == 13  # 12 complete months and the current one


def test_the_page_explains_the_method_and_the_markers(client, seeded):
    html = client.get("/datos-abiertos/").get_data(as_text=True)
    for text in (
        "Metodología",
        "Qué se cuenta",
        "una vez en cada categoría de violencia",
        "no se cuentan los cerrados como infundados",
        "Las cifras de 1 a 4 se publican como «&lt;5»",
        "las cifras de 1 a 9 se publican como «&lt;10»",
        "supresión secundaria",
        "una vez al día",
        "Fuente: SALVE",
    ):
        assert text in html, text
    assert "Entre 0 y 4 incidentes" in html  # the legend of "<5"


def test_the_grouping_is_chosen_with_checkboxes(client, seeded):
    html = client.get("/datos-abiertos/").get_data(as_text=True)
    for name in PAGE_NAMES:
        assert f'name="por" value="{name}"' in html
    # Ticking nothing asks for the national total.
    total = client.get("/datos-abiertos/?por=").get_data(as_text=True)
    assert "Total nacional de incidentes" in total
    assert page_cells(total) == [("publicado", "30")]


def test_labels_in_english(client, seeded):
    client.post("/idioma", data={"lang": "en"})
    html = client.get(page_url(("month", "category", "sex"))).get_data(as_text=True)
    for label in ("Bullying", "Sexual violence", "Female", "Male"):
        assert label in html, label
    assert re.search(r"(January|February|March|April|May|June|July|August|September|October"
                     r"|November|December) 20\d\d", html)  # fmt: skip
    data = client.get(page_url(("sex",), formato="csv")).data.decode("utf-8-sig")
    _header, *rows = csv.reader(io.StringIO(data))
    assert [(code, label) for code, label, _count in rows] == [("F", "Female"), ("M", "Male")]
    answer = client.get("/api/v1/open/incidents?by=level").json
    assert answer["items"][0]["level"]["label"] == {
        "es": "Educación parvularia",
        "en": "Pre-school",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("by=departamento", "by"),
        ("by=month,sex,month", "by"),
        ("by=" + "month," * 40, "by"),
        ("format=xlsx", "format"),
    ],
)
def test_a_bad_request_names_what_is_wrong(client, app, query, field):
    answer = Api(app, client).get(f"/api/v1/open/incidents?{query}")
    assert answer.status_code == 400
    assert answer.json["errors"][0]["field"] == field


def test_the_order_of_by_is_kept(client, seeded):
    items = client.get("/api/v1/open/incidents?by=sex,department").json["items"]
    assert list(items[0]) == ["sex", "department", "count"]
    assert [item["sex"]["code"] for item in items[:2]] == ["F", "F"]


def test_the_openapi_document_says_it_is_public(client):
    operation = client.get("/api/v1/openapi.json").json["paths"]["/open/incidents"]["get"]
    assert operation["security"] == []
