"""Read and check the ministry's school and student files, then write the rows that pass.

Every check runs over whole columns at once (pandas), so a national roll of 1.3 million
students is checked in seconds. Checking is pure (it only reads the database for the
geography and the school codes) and returns a ``ValidationResult``; writing is separate.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from salve.audit.operations import record
from salve.bulk import UpsertCounts, bulk_upsert
from salve.extensions import db
from salve.geography.models import Department, District, Municipality
from salve.schools.models import School, Student

SCHOOL_COLUMNS = [
    "codigo",
    "nombre",
    "sector",
    "zona",
    "departamento",
    "municipio",
    "distrito",
    "matricula_f",
    "matricula_m",
]
STUDENT_COLUMNS = [
    "nie",
    "codigo_escuela",
    "nombres",
    "apellidos",
    "sexo",
    "fecha_nacimiento",
    "grado",
    "seccion",
]
#: Larger than any school in the country: a bigger number is a typing slip.
MAX_ENROLMENT = 50_000
MIN_AGE, MAX_AGE = 2, 30
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PARSER_LINE = re.compile(r"Expected ([0-9]+) fields in line ([0-9]+), saw ([0-9]+)")
_SKIPPED_LINE = re.compile(r"Skipping line ([0-9]+): expected ([0-9]+) fields, saw ([0-9]+)")
#: Unicode categories no value may contain: controls (tab, CR and LF too), invisible format
#: characters (zero-width joiners, direction overrides such as U+202E, a BOM inside the text)
#: and line or paragraph separators. They make two different values look the same.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: Builds the reasons of the rows of a mask; reasons are only formatted for rows that fail.
Reason = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Problem:
    """Something wrong with the file (``line`` is None) or with one value of one line."""

    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"línea {self.line}")
        if self.column:
            where.append(f"columna {self.column}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass
class ValidationResult:
    """The rows that passed every check, and what was wrong with the others."""

    #: Rows ready to write, in database column names, with their ``line`` in the file.
    valid: pd.DataFrame
    #: Problems that stop the whole file (encoding, columns, emptiness).
    file_problems: list[Problem] = field(default_factory=list)
    #: One row per problem found in a value: ``line``, ``column``, ``reason``.
    row_problems: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"line": [], "column": [], "reason": []})
    )
    #: Data rows read from the file.
    row_count: int = 0

    @property
    def problems(self) -> list[Problem]:
        """Return every problem, file-level first, then by line."""
        rows = [
            Problem(int(line), column, reason)
            for line, column, reason in self.row_problems.itertuples(index=False, name=None)
        ]
        return [*self.file_problems, *rows]

    @property
    def invalid_row_count(self) -> int:
        """Return how many data rows have at least one problem."""
        return int(self.row_problems["line"].nunique())

    @property
    def is_importable(self) -> bool:
        """Tell whether the valid rows may be written (no problem with the file as a whole)."""
        return not self.file_problems


@dataclass(frozen=True)
class ImportCounts:
    """What an import did."""

    inserted: int
    updated: int
    unchanged: int
    skipped: int


# --- Reading ---------------------------------------------------------------------------------


def read_rows(source: Path | bytes, expected: list[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Decode and parse a CSV file into strings, with each row's ``line`` in the file."""
    data = source.read_bytes() if isinstance(source, Path) else source
    empty = pd.DataFrame(columns=[*expected, "line"])
    if not data.strip():
        return empty, [Problem(None, None, "el archivo está vacío")]
    text = _decode(data)
    if text is None or _CONTROL_CHARACTERS.search(text):
        hint = " (parece un libro de Excel: guárdelo como CSV)" if data[:2] == b"PK" else ""
        reason = f"el archivo no es un CSV de texto en UTF-8 ni en Latin-1{hint}"
        return empty, [Problem(None, None, reason)]
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    separator = ";" if header.count(";") > header.count(",") else ","
    width = len(next(csv.reader([header.rstrip("\r")], delimiter=separator), []))
    try:
        # The header is read as a row like the others, with the width of the header: a first
        # data row with an extra field would otherwise become the index and shift every column.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text.lstrip("\ufeff")),
                sep=separator,
                header=None,
                names=range(width),
                index_col=False,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                on_bad_lines="warn",
            )
    except pd.errors.ParserError as error:
        return empty, [_parser_problem(error)]
    too_long = [
        Problem(int(line), None, f"tiene {seen} campos y la cabecera {expected_width}")
        for warning in caught
        for line, expected_width, seen in _SKIPPED_LINE.findall(str(warning.message))
    ]
    if too_long:
        return empty, too_long
    frame.columns = [str(name).strip().lower() for name in frame.iloc[0].fillna("")]
    frame = frame.iloc[1:].reset_index(drop=True)
    problems = []
    missing = [name for name in expected if name not in frame.columns]
    extra = [name for name in frame.columns if name not in expected]
    if missing:
        problems.append(Problem(None, None, f"faltan columnas: {', '.join(missing)}"))
    if extra:
        problems.append(Problem(None, None, f"columnas no esperadas: {', '.join(extra)}"))
    if problems:
        return empty, problems
    frame = frame[expected].fillna("")
    # Stripping is a Python call per value; one regular expression over the text says whether
    # any value has spaces around it at all.
    if re.search(rf"(^|[{separator}\n])[ \t]|[ \t]($|[{separator}\r\n])", text, re.MULTILINE):
        for name in expected:
            frame[name] = frame[name].str.strip()
    frame["line"] = np.arange(len(frame)) + 2  # the header is line 1
    # Blank lines are not rows; dropping them keeps the other rows' line numbers true.
    frame = frame[frame[expected].ne("").any(axis=1)].reset_index(drop=True)
    if frame.empty:
        return empty, [Problem(None, None, "el archivo no tiene filas de datos")]
    # Checking every value for invisible characters costs a second per column of a national
    # roll; one look at the text (str.isprintable is False for every such character, and for
    # a few harmless ones) says whether any value may hold one. Line ends separate rows, and
    # are inside a value only where it is quoted.
    frame.attrs["may_hide_characters"] = (
        '"' in text or not text.replace("\r\n", "\n").replace("\n", "").isprintable()
    )
    return frame, []


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def _parser_problem(error: Exception) -> Problem:
    match = _PARSER_LINE.search(str(error))
    if match:
        expected, line, seen = match.groups()
        reason = f"tiene {seen} campos y la cabecera {expected}"
        return Problem(int(line), None, reason)
    return Problem(None, None, "el archivo no se puede leer como CSV")


# --- Checking, column by column --------------------------------------------------------------


class _Checks:
    """Collect the problems of a frame, one per value at most."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.pieces: list[pd.DataFrame] = []
        self.bad = {name: pd.Series(False, index=frame.index) for name in frame.columns}

    def ok(self, column: str) -> pd.Series:
        """Return the mask of rows whose ``column`` has no problem so far."""
        return ~self.bad[column]

    def flag(self, mask: pd.Series, column: str, reason: str | Reason) -> None:
        """Record ``reason`` for the rows of ``mask`` not already flagged in ``column``."""
        mask = mask & self.ok(column)
        if not mask.any():
            return
        self.bad[column] |= mask
        reasons = reason(mask) if callable(reason) else reason
        self.pieces.append(
            pd.DataFrame(
                {"line": self.frame.loc[mask, "line"], "column": column, "reason": reasons}
            )
        )

    def required(self, *columns: str) -> None:
        """Flag empty values."""
        for column in columns:
            self.flag(self.frame[column].eq(""), column, "falta el valor")

    def max_length(self, column: str, length: int) -> None:
        """Flag values longer than the database column."""
        self.flag(
            self.frame[column].str.len() > length, column, f"tiene más de {length} caracteres"
        )

    def visible(self, *columns: str) -> None:
        """Flag values holding an invisible or control character, naming the first one."""
        if not self.frame.attrs.get("may_hide_characters", True):
            return
        pattern = invisible_characters()
        for column in columns:
            values = self.frame[column]
            self.flag(
                values.str.contains(pattern, regex=True),
                column,
                lambda mask, values=values: values[mask].map(_invisible_reason),
            )

    def unique(self, column: str, label: str) -> None:
        """Flag every line whose value of ``column`` appears on another line too."""
        values = self.frame[column]
        repeated = values.ne("") & values.duplicated(keep=False) & self.ok(column)
        if not repeated.any():
            return
        seen = self.frame.loc[repeated, [column, "line"]]
        order = seen.groupby(column).cumcount()
        first = seen[order == 0].set_index(column)["line"]
        second = seen[order == 1].set_index(column)["line"]
        quoted = label + " «" + seen[column] + "» repetido: "
        reason = np.where(
            order == 0,
            quoted + "aparece también en la línea " + seen[column].map(second).astype(str),
            quoted + "ya aparece en la línea " + seen[column].map(first).astype(str),
        )
        self.flag(repeated, column, pd.Series(reason, index=seen.index))

    def result(self, valid_columns: dict[str, pd.Series]) -> ValidationResult:
        """Return the rows without any problem and the problems sorted by line."""
        invalid = pd.Series(False, index=self.frame.index)
        for mask in self.bad.values():
            invalid |= mask
        problems = (
            pd.concat(self.pieces, ignore_index=True)
            if self.pieces
            else pd.DataFrame({"line": [], "column": [], "reason": []})
        )
        order = {name: position for position, name in enumerate(self.frame.columns)}
        problems = (
            problems.assign(_order=problems["column"].map(order))
            .sort_values(["line", "_order"], kind="stable")
            .drop(columns="_order")
            .reset_index(drop=True)
        )
        valid = pd.DataFrame(valid_columns)[~invalid].reset_index(drop=True)
        return ValidationResult(valid, [], problems, len(self.frame))


@cache
def invisible_characters() -> str:
    """Return a regular expression matching one character of ``_INVISIBLE_CATEGORIES``."""
    ranges: list[list[int]] = []
    for point in range(sys.maxunicode + 1):
        if unicodedata.category(chr(point)) in _INVISIBLE_CATEGORIES:
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    return "[" + "".join(f"\\U{first:08x}-\\U{last:08x}" for first, last in ranges) + "]"


def _invisible_reason(value: str) -> str:
    point = next(ch for ch in value if unicodedata.category(ch) in _INVISIBLE_CATEGORIES)
    name = unicodedata.name(point, "")
    shown = f"U+{ord(point):04X}" + (f" ({name})" if name else "")
    return f"tiene un carácter invisible o de control, {shown}: escriba el texto de nuevo"


def fold(values: pd.Series) -> pd.Series:
    """Return ``values`` without accents, in lower case, with single spaces, for matching."""
    return (
        values.str.normalize("NFKD")
        .str.replace("[\u0300-\u036f]", "", regex=True)
        .str.casefold()
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )


def _quoted(prefix: str, values: pd.Series, suffix: str | Reason = "") -> Reason:
    """Return a reason quoting the value, built only for the rows that need it."""

    def reason(mask: pd.Series) -> pd.Series:
        end = suffix(mask) if callable(suffix) else suffix
        return prefix + " «" + values[mask] + "»" + end

    return reason


# --- Schools ---------------------------------------------------------------------------------


def geography_frame() -> pd.DataFrame:
    """Return every district with its municipality and department, one row each."""
    query = (
        sa.select(
            Department.id.label("department_id"),
            Department.code.label("department_code"),
            Department.name.label("department_name"),
            Municipality.id.label("municipality_id"),
            Municipality.name.label("municipality_name"),
            District.id.label("district_id"),
            District.name.label("district_name"),
        )
        .join(Municipality, Municipality.department_id == Department.id)
        .join(District, District.municipality_id == Municipality.id)
    )
    return pd.DataFrame(
        db.session.execute(query).all(), columns=list(query.selected_columns.keys())
    )


def validate_schools(source: Path | bytes) -> ValidationResult:
    """Check a schools file against the formats and the 2024 geography in the database."""
    frame, problems = read_rows(source, SCHOOL_COLUMNS)
    if problems:
        return ValidationResult(pd.DataFrame(), problems)
    checks = _Checks(frame)
    checks.visible(*SCHOOL_COLUMNS)
    checks.required(*SCHOOL_COLUMNS)
    checks.flag(
        ~frame["codigo"].str.fullmatch(r"[0-9]{5}"),
        "codigo",
        _quoted("el código debe tener 5 dígitos, no", frame["codigo"]),
    )
    checks.unique("codigo", "código")
    checks.max_length("nombre", 200)
    sector = fold(frame["sector"])
    checks.flag(
        ~sector.isin(["publico", "privado"]),
        "sector",
        _quoted("debe ser «público» o «privado», no", frame["sector"]),
    )
    zone = fold(frame["zona"])
    checks.flag(
        ~zone.isin(["urbana", "rural"]),
        "zona",
        _quoted("debe ser «urbana» o «rural», no", frame["zona"]),
    )
    places = _resolve_places(frame, checks, geography_frame())
    enrolment = {}
    for column in ("matricula_f", "matricula_m"):
        is_number = frame[column].str.fullmatch(r"[0-9]{1,9}")
        checks.flag(
            ~is_number,
            column,
            _quoted("debe ser un número entero no negativo, no", frame[column]),
        )
        numbers = pd.to_numeric(frame[column].where(is_number, "0")).astype("int64")
        checks.flag(numbers > MAX_ENROLMENT, column, _quoted("matrícula imposible", frame[column]))
        enrolment[column] = numbers
    return checks.result(
        {
            "code": frame["codigo"],
            "name": frame["nombre"],
            "sector": sector,
            "zone": zone,
            "district_id": places["district_id"],
            "department_id": places["department_id"],
            "enrolment_female": enrolment["matricula_f"],
            "enrolment_male": enrolment["matricula_m"],
            "line": frame["line"],
        }
    )


def _resolve_places(frame: pd.DataFrame, checks: _Checks, geography: pd.DataFrame) -> pd.DataFrame:
    """Return department and district ids per row, flagging names that do not fit together."""
    departments = geography.drop_duplicates("department_id")
    by_code = departments.set_index("department_code")["department_id"]
    by_name = departments.assign(key=fold(departments["department_name"])).set_index("key")[
        "department_id"
    ]
    raw = frame["departamento"]
    code = raw.where(~raw.str.fullmatch(r"[0-9]{1,2}"), raw.str.zfill(2))
    department_id = code.map(by_code).fillna(fold(raw).map(by_name))
    checks.flag(department_id.isna(), "departamento", _quoted("departamento desconocido", raw))
    department_names = departments.set_index("department_id")["department_name"]

    municipalities = geography.drop_duplicates("municipality_id").assign(
        key=lambda m: fold(m["municipality_name"])
    )
    wanted = pd.DataFrame({"department_id": department_id, "key": fold(frame["municipio"])})
    municipality_id = wanted.merge(
        municipalities[["department_id", "key", "municipality_id"]],
        on=["department_id", "key"],
        how="left",
    )["municipality_id"].set_axis(frame.index)
    department_name = department_id.map(department_names).fillna("")

    def not_in_department(mask: pd.Series) -> pd.Series:
        return " no pertenece al departamento " + department_name[mask]

    elsewhere = wanted["key"].isin(municipalities["key"])
    lost = municipality_id.isna() & department_id.notna()
    checks.flag(
        lost & elsewhere,
        "municipio",
        _quoted("el municipio", frame["municipio"], not_in_department),
    )
    checks.flag(lost, "municipio", _quoted("municipio desconocido", frame["municipio"]))

    districts = geography.assign(key=fold(geography["district_name"]))
    wanted = pd.DataFrame(
        {"municipality_id": municipality_id, "department_id": department_id}
    ).assign(key=fold(frame["distrito"]))
    district_id = wanted.merge(
        districts[["municipality_id", "key", "district_id"]],
        on=["municipality_id", "key"],
        how="left",
    )["district_id"].set_axis(frame.index)
    in_department = wanted.merge(
        districts.drop_duplicates(["department_id", "key"])[
            ["department_id", "key", "municipality_name"]
        ],
        on=["department_id", "key"],
        how="left",
    )["municipality_name"].set_axis(frame.index)
    lost = district_id.isna() & municipality_id.notna()
    district = frame["distrito"]
    checks.flag(
        lost & in_department.notna(),
        "distrito",
        _quoted(
            "el distrito",
            district,
            lambda mask: (
                " pertenece al municipio «"
                + in_department[mask]
                + "», no a «"
                + frame.loc[mask, "municipio"]
                + "»"
            ),
        ),
    )
    checks.flag(
        lost & wanted["key"].isin(districts["key"]),
        "distrito",
        _quoted("el distrito", district, not_in_department),
    )
    checks.flag(lost, "distrito", _quoted("distrito desconocido", district))
    return pd.DataFrame(
        {
            "department_id": department_id.fillna(0).astype("int64"),
            "district_id": district_id.fillna(0).astype("int64"),
        }
    )


def write_schools(result: ValidationResult) -> ImportCounts:
    """Insert new schools and update known ones (by code); audit the counts."""
    frame = result.valid.drop(columns="line").assign(levels="", is_active=True)
    counts = bulk_upsert(
        School.__table__,
        frame,
        ["code"],
        [
            "name",
            "sector",
            "zone",
            "district_id",
            "department_id",
            "enrolment_female",
            "enrolment_male",
            "is_active",  # a school on the ministry's list is open
        ],
    )
    return _audited("school.import", counts, result)


# --- Students --------------------------------------------------------------------------------


def validate_students(source: Path | bytes, today: date | None = None) -> ValidationResult:
    """Check a students file: formats, plausible birth dates and schools known to SALVE."""
    today = today or date.today()
    frame, problems = read_rows(source, STUDENT_COLUMNS)
    if problems:
        return ValidationResult(pd.DataFrame(), problems)
    checks = _Checks(frame)
    checks.visible(*STUDENT_COLUMNS)
    checks.required(*STUDENT_COLUMNS)
    checks.flag(
        frame["nie"].str.fullmatch(r"\d{1,20}") & ~frame["nie"].str.fullmatch(r"[0-9]{1,20}"),
        "nie",
        _quoted(
            "el NIE debe llevar los dígitos 0 a 9 del teclado, no de ancho completo ni árabes:",
            frame["nie"],
        ),
    )
    checks.flag(
        ~frame["nie"].str.fullmatch(r"[0-9]{1,20}"),
        "nie",
        _quoted("el NIE debe tener solo dígitos (hasta 20), no", frame["nie"]),
    )
    checks.unique("nie", "NIE")
    schools = pd.DataFrame(
        db.session.execute(sa.select(School.code, School.id)).all(), columns=["code", "id"]
    )
    school_id = frame["codigo_escuela"].map(schools.set_index("code")["id"])
    checks.flag(
        school_id.isna(),
        "codigo_escuela",
        _quoted("no existe la escuela", frame["codigo_escuela"]),
    )
    checks.max_length("nombres", 120)
    checks.max_length("apellidos", 120)
    sex = frame["sexo"].str.upper()
    checks.flag(~sex.isin(["F", "M"]), "sexo", _quoted("debe ser F o M, no", frame["sexo"]))
    birth_date = _check_birth_dates(frame, checks, today)
    checks.max_length("grado", 20)
    checks.max_length("seccion", 10)
    return checks.result(
        {
            "nie": frame["nie"],
            "school_id": school_id.fillna(0).astype("int64"),
            "given_names": frame["nombres"],
            "family_names": frame["apellidos"],
            "sex": sex,
            "birth_date": birth_date,
            "grade": frame["grado"],
            "section": frame["seccion"],
            "line": frame["line"],
        }
    )


def _check_birth_dates(frame: pd.DataFrame, checks: _Checks, today: date) -> pd.Series:
    """Flag unreadable, impossible and implausible birth dates; return them as ISO strings."""
    raw = frame["fecha_nacimiento"]
    # The two formats parse in C; only rows that fail both take the slower regular expressions.
    born = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    failed = born.isna() & raw.ne("")
    if failed.any():
        born = born.fillna(
            pd.to_datetime(raw.where(failed, ""), format="%d/%m/%Y", errors="coerce")
        )
        failed = born.isna() & raw.ne("")
    if failed.any():
        born = _parse_dates_by_parts(raw, failed, born, checks)
    checks.flag(born.isna(), "fecha_nacimiento", _quoted("fecha imposible", raw))
    checks.flag(
        born > pd.Timestamp(today),
        "fecha_nacimiento",
        _quoted("la fecha de nacimiento está en el futuro:", raw),
    )
    had_birthday = born.dt.month * 100 + born.dt.day <= today.month * 100 + today.day
    age = today.year - born.dt.year - (~had_birthday).astype("int64")
    checks.flag(
        (age < MIN_AGE) | (age > MAX_AGE),
        "fecha_nacimiento",
        lambda mask: (
            "edad imposible para un estudiante ("
            + age[mask].astype("int64").astype(str)
            + " años): «"
            + raw[mask]
            + "»"
        ),
    )
    iso = np.datetime_as_string(born.to_numpy().astype("datetime64[D]"))
    return pd.Series(np.where(born.isna(), "", iso), index=frame.index)


def _parse_dates_by_parts(
    raw: pd.Series, failed: pd.Series, born: pd.Series, checks: _Checks
) -> pd.Series:
    """Parse the dates the fast formats missed, flagging those in neither format."""
    subset = raw[failed]
    parts = subset.str.extract(
        r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})$"
    ).fillna(subset.str.extract(r"^(?P<day>[0-9]{1,2})/(?P<month>[0-9]{1,2})/(?P<year>[0-9]{4})$"))
    unreadable = parts["year"].isna().reindex(raw.index, fill_value=False)
    checks.flag(
        unreadable,
        "fecha_nacimiento",
        _quoted("fecha no válida", raw, " (use AAAA-MM-DD o DD/MM/AAAA)"),
    )
    numbers = parts.fillna("1").apply(pd.to_numeric)
    return born.fillna(pd.to_datetime(numbers[["year", "month", "day"]], errors="coerce"))


def write_students(result: ValidationResult) -> ImportCounts:
    """Insert new students and update known ones (by NIE); audit the counts."""
    frame = result.valid.drop(columns="line").assign(is_active=True)
    counts = bulk_upsert(
        Student.__table__,
        frame,
        ["nie"],
        # On the roll again means active again.
        [
            "school_id",
            "given_names",
            "family_names",
            "sex",
            "birth_date",
            "grade",
            "section",
            "is_active",
        ],
    )
    return _audited("student.import", counts, result)


def _audited(action: str, counts: UpsertCounts, result: ValidationResult) -> ImportCounts:
    imported = ImportCounts(
        counts.inserted, counts.updated, counts.unchanged, result.invalid_row_count
    )
    # Counts only: an audit detail never carries a name.
    record(
        action,
        inserted=imported.inserted,
        updated=imported.updated,
        unchanged=imported.unchanged,
        skipped=imported.skipped,
    )
    db.session.flush()
    return imported
