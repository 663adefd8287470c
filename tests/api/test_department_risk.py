"""GET /api/v1/departments/<code>/schools/risk: the ranked list as JSON, CSV and XLSX, scoped."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.extensions import db
from salve.schools.models import Student
from tests.api.conftest import token_for
from tests.reports.department_builders import API_URL, FORMULA_NAME, plant_department


@pytest.fixture
def dept(world):
    return plant_department(world)


def codes(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["code"] for item in response.json["items"]]


def test_the_list_is_ranked_and_paginated_like_the_other_lists(api, dept):
    api.as_user("departamental_06")
    response = api.get(API_URL)
    assert codes(response) == dept.ranked
    assert response.json["total"] == 5 and response.json["page"] == 1
    medium = response.json["items"][2]
    assert medium["level"] == "medio" and medium["score"] == 40
    assert medium["trend"] == -10
    assert (medium["incidents_30"], medium["incidents_90"], medium["rate_per_100"]) == (3, 4, 2)
    assert medium["last_report_at"] is not None
    critical = response.json["items"][0]
    assert (critical["open_alerts"], critical["overdue_alerts"]) == (2, 1)
    assert critical["name"] == FORMULA_NAME  # JSON is no spreadsheet: the name as it is
    second = api.get(f"{API_URL}?per_page=2&page=2")
    assert codes(second) == dept.ranked[2:4]
    assert codes(api.get(f"{API_URL}?per_page=2&page=50")) == dept.ranked[4:]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda d: f"municipality={d.municipality_id}", lambda d: [d.critical, d.high]),
        (lambda d: f"district={d.second_district_id}", lambda d: [d.high]),
        (lambda d: "sector=privado", lambda d: [d.critical]),
        (lambda d: "zone=rural", lambda d: [d.high]),
        (lambda d: "level=bajo", lambda d: [d.low, d.unscored]),
        (lambda d: "open_alerts=true", lambda d: [d.critical]),
        (lambda d: "silent=1", lambda d: [d.high]),
        (lambda d: "silent=false&open_alerts=0", lambda d: d.ranked),
        (lambda d: "q=delta", lambda d: [d.high]),
        (lambda d: "sort=nombre", lambda d: [d.critical, d.medium, d.low, d.high, d.unscored]),
        (lambda d: "sort=riesgo&direction=asc", lambda d: d.ranked[::-1]),
    ],
)
def test_filters_and_sorting(api, dept, query, expected):
    api.as_user("nacional")
    assert codes(api.get(f"{API_URL}?{query(dept)}")) == expected(dept)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("level=altisimo", "level"),
        ("sector=mixto", "sector"),
        ("municipality=abc", "municipality"),
        ("district=1", "district"),  # a district of another department
        ("silent=quizas", "silent"),
        ("sort=edad", "sort"),
        ("direction=up", "direction"),
        ("format=pdf", "format"),
        ("per_page=0", "per_page"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(api, dept, query, field):
    api.as_user("departamental_06")
    response = api.get(f"{API_URL}?{query}")
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == field


def _download(client, username: str, fmt: str, query: str = ""):
    token = token_for(username)
    return client.get(
        f"{API_URL}?format={fmt}{query}", headers={"Authorization": f"Bearer {token}"}
    )


def test_csv_and_xlsx_hold_every_filtered_row(client, dept):
    as_csv = _download(client, "supervisor_06", "csv", "&per_page=1&sort=codigo")
    assert as_csv.status_code == 200
    assert as_csv.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(as_csv.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Código", "Centro educativo", "Municipio"]
    assert [row[0] for row in rows[1:]] == sorted(dept.ranked)
    assert "'" + FORMULA_NAME in [row[1] for row in rows]
    as_xlsx = _download(client, "supervisor_06", "xlsx", "&sort=codigo")
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.data)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == sorted(dept.ranked)
    names = {n for pair in db.session.execute(sa.select(Student.given_names)) for n in pair}
    assert not any(name in as_csv.data.decode("utf-8-sig") for name in names)


def test_calls_and_downloads_are_audited(api, client, dept):
    api.as_user("nacional").get(f"{API_URL}?level=alto")
    _download(client, "nacional", "csv")
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action.like("department_list.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.object_id, e.detail["channel"]) for e in events] == [
        ("department_list.view", "06", "api"),
        ("department_list.export", "06", "api"),
    ]
    assert events[0].detail["params"] == {"level": "alto"}


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_another_department_is_404_and_other_roles_403(api, client, dept, fmt):
    assert _download(client, "departamental_05", fmt).status_code == 404
    assert _download(client, "docente_a", fmt).status_code == 403
    assert _download(client, "gestor_06", fmt).status_code == 403
    response = api.as_user("departamental_05").get(f"{API_URL}?format={fmt}")
    assert dept.high.encode() not in response.data
