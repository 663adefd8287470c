"""Invent a year of incident reports for the demo country, whole columns at a time (numpy).

The history is plausible rather than real: mostly tier I and II reports between students of the
same school, a few percent of tier III, rare immediate types; a heavy-tailed rate per school (a
few schools report a lot, some under-report, some fell silent in the last 60 days); and a few
planted bullying patterns, the same aggressor against the same victim four times or more within
three weeks, one of them at the demo school. Narratives are short sentences from templates and
never name anyone.

Reports of the demo school are filed by the demo ``docente`` and validated or closed by the demo
``director``. Every other school's reports are imported history: filed, validated and closed by
the demo ``admin`` account through the ``api`` channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from salve.bulk import bulk_upsert
from salve.catalog.entries import Catalog
from salve.extensions import db
from salve.incidents.models import Incident, IncidentParty, IncidentType

#: Reports per student per year, on average over the country.
INCIDENTS_PER_STUDENT_YEAR = 0.46
HISTORY_DAYS = 365
#: Schools that fell silent have no report in this many most recent days.
SILENT_DAYS = 60
SILENT_SHARE = 0.05
#: Schools that report far less than their peers.
UNDER_REPORTING_SHARE = 0.08
#: A planted pattern: the same pair this many times within ``PATTERN_DAYS``.
PATTERN_TIMES = (4, 7)
PATTERN_DAYS = 20
#: Grades too young to be a party in the demo's reports (fights, cyberbullying...).
YOUNG_GRADES = ("Parvularia 4", "Parvularia 5", "Parvularia 6", "1", "2")
#: Most parties one incident gets from one school's students.
MAX_STUDENT_PARTIES = 6
#: Schools are in El Salvador (UTC-6): local school hours become UTC by adding this.
UTC_OFFSET_HOURS = 6

#: Relative frequency of each type as the incident's main type.
TYPE_WEIGHTS = {
    "PSI_INSULTOS": 20, "FIS_LEVE": 14, "FIS_PELEA": 12, "ACO_VERBAL": 9, "PSI_EXCLUSION": 8,
    "CIB_HOSTIGAMIENTO": 5, "ACO_FISICO": 4, "ACO_SOCIAL": 4, "PSI_AMENAZAS": 4,
    "ROB_HURTO": 4, "ROB_DANOS": 3, "CIB_DIFUSION": 1.5, "DIS_TRATO": 1.5, "PER_INSULTOS": 1.2,
    "DRO_CONSUMO": 1.0, "CIB_SUPLANTACION": 0.8, "MAL_NEGLIGENCIA": 0.8, "FIS_LESIONES": 0.8,
    "ROB_ROBO": 0.5, "ARM_PORTACION_BLANCA": 0.4, "MAL_PSICOLOGICO": 0.4, "PSI_HUMILLACION": 0.4,
    "DRO_POSESION": 0.3, "MAL_FISICO": 0.3, "SEX_ACOSO": 0.3, "AUT_AUTOLESION": 0.3,
    "AUT_IDEACION": 0.25, "PER_AGRESION": 0.2, "FIS_CASTIGO": 0.15, "SEX_TOCAMIENTOS": 0.15,
    "DRO_VENTA": 0.1, "PAN_RECLUTAMIENTO": 0.1, "DIS_ACCESO": 0.1, "SEX_GROOMING": 0.08,
    "PAN_AMENAZAS": 0.08, "SEX_MATERIAL": 0.05, "ARM_AMENAZA": 0.05, "PAN_EXTORSION": 0.05,
    "AUT_INTENTO": 0.05, "ARM_PORTACION_FUEGO": 0.03, "SEX_VIOLACION": 0.02,
    "AUT_INDUCCION": 0.02, "SEX_EXPLOTACION": 0.01, "ARM_USO": 0.01,
}  # fmt: skip
#: Who to whom, for types the catalog does not limit, unless ``TYPE_RELATIONSHIPS`` says.
DEFAULT_RELATIONSHIPS = {
    "estudiante_estudiante": 0.95, "desconocido": 0.02, "personal_estudiante": 0.01,
    "familiar_externo_estudiante": 0.01, "estudiante_personal": 0.01,
}  # fmt: skip
TYPE_RELATIONSHIPS = {
    "ROB_HURTO": {"estudiante_estudiante": 0.6, "desconocido": 0.4},
    "ROB_DANOS": {"estudiante_estudiante": 0.7, "desconocido": 0.3},
    "ROB_ROBO": {"estudiante_estudiante": 0.6, "familiar_externo_estudiante": 0.2,
                 "desconocido": 0.2},
    "SEX_ACOSO": {"estudiante_estudiante": 0.75, "personal_estudiante": 0.1,
                  "familiar_externo_estudiante": 0.15},
    "SEX_TOCAMIENTOS": {"estudiante_estudiante": 0.6, "personal_estudiante": 0.1,
                        "familiar_externo_estudiante": 0.3},
    "SEX_VIOLACION": {"familiar_externo_estudiante": 0.8, "estudiante_estudiante": 0.2},
    "SEX_EXPLOTACION": {"familiar_externo_estudiante": 1.0},
    "SEX_GROOMING": {"familiar_externo_estudiante": 0.7, "desconocido": 0.3},
    "SEX_MATERIAL": {"estudiante_estudiante": 0.6, "desconocido": 0.4},
    "PAN_AMENAZAS": {"familiar_externo_estudiante": 0.6, "estudiante_estudiante": 0.4},
    "PAN_EXTORSION": {"familiar_externo_estudiante": 0.6, "estudiante_estudiante": 0.4},
    "PAN_RECLUTAMIENTO": {"familiar_externo_estudiante": 0.7, "estudiante_estudiante": 0.3},
    "DRO_VENTA": {"estudiante_estudiante": 0.5, "familiar_externo_estudiante": 0.5},
    "CIB_HOSTIGAMIENTO": {"estudiante_estudiante": 0.9, "desconocido": 0.1},
    "CIB_SUPLANTACION": {"estudiante_estudiante": 0.7, "desconocido": 0.3},
    "CIB_DIFUSION": {"estudiante_estudiante": 0.85, "desconocido": 0.15},
    "AUT_INDUCCION": {"estudiante_estudiante": 0.6, "desconocido": 0.4},
    "PER_INSULTOS": {"estudiante_personal": 0.75, "familiar_externo_personal": 0.25},
    "PER_AGRESION": {"estudiante_personal": 0.6, "familiar_externo_personal": 0.4},
    "MAL_FISICO": {"familiar_externo_estudiante": 1.0},
    "MAL_PSICOLOGICO": {"familiar_externo_estudiante": 1.0},
    "MAL_NEGLIGENCIA": {"familiar_externo_estudiante": 1.0},
}  # fmt: skip
#: Types that often come with a second, lighter one; the companions allow any relationship.
COMPANIONS = {
    "FIS_PELEA": "PSI_INSULTOS", "ACO_FISICO": "FIS_LEVE", "ACO_SOCIAL": "PSI_EXCLUSION",
    "CIB_HOSTIGAMIENTO": "PSI_AMENAZAS", "PSI_AMENAZAS": "FIS_LEVE", "ROB_HURTO": "ROB_DANOS",
    "ACO_VERBAL": "PSI_INSULTOS", "FIS_LESIONES": "FIS_PELEA",
}  # fmt: skip
COMPANION_SHARE = 0.15

#: Where it happened, per category (other categories use ``DEFAULT_LOCATIONS``).
DEFAULT_LOCATIONS = {
    "aula": 0.3, "patio": 0.25, "pasillos": 0.1, "banos": 0.08, "cancha": 0.08,
    "entrada": 0.05, "cafetin": 0.04, "alrededores": 0.05, "trayecto": 0.04, "otro": 0.01,
}  # fmt: skip
CATEGORY_LOCATIONS = {
    "ciberacoso": {"en_linea": 1.0},
    "maltrato_hogar": {"hogar": 1.0},
    "pandillas": {"alrededores": 0.5, "trayecto": 0.3, "entrada": 0.2},
    "drogas": {"banos": 0.4, "alrededores": 0.4, "patio": 0.2},
    "autolesion": {"aula": 0.5, "banos": 0.3, "hogar": 0.2},
    "contra_personal": {"aula": 0.6, "oficinas": 0.2, "entrada": 0.2},
    "sexual": {"banos": 0.3, "aula": 0.2, "en_linea": 0.2, "alrededores": 0.3},
}
LOCATION_PHRASES = {
    "aula": "en el aula", "patio": "en el patio", "banos": "en los baños",
    "pasillos": "en un pasillo", "cancha": "en la cancha", "cafetin": "en el cafetín",
    "oficinas": "cerca de la dirección", "entrada": "en el portón de entrada",
    "alrededores": "en los alrededores del centro escolar",
    "trayecto": "en el camino hacia el centro escolar", "transporte": "en el transporte",
    "actividad_externa": "durante una actividad fuera del centro", "en_linea": "en línea",
    "hogar": "en el hogar", "otro": "en el centro escolar",
}  # fmt: skip

#: Short invented sentences per category: {quien} did it to {a_quien}, {lugar} is where.
TEMPLATES = {
    "fisica": (
        "{quien} golpeó a {a_quien} {lugar} durante el recreo.",
        "{quien} empujó a {a_quien} {lugar}; hubo forcejeo hasta que intervino el personal.",
        "Pelea {lugar}: {quien} agredió físicamente a {a_quien}.",
    ),
    "psicologica": (
        "{quien} insultó y se burló de {a_quien} {lugar} frente a otros estudiantes.",
        "{quien} amenazó a {a_quien} {lugar} con hacerle daño a la salida.",
        "{quien} excluyó a {a_quien} de las actividades del grupo {lugar}.",
    ),
    "acoso_escolar": (
        "{a_quien} cuenta que {quien} le hace burlas de forma repetida {lugar}.",
        "Burlas y empujones repetidos de {quien} hacia {a_quien} {lugar}; no es la primera vez.",
        "{quien} aparta a {a_quien} del grupo y le pone apodos desde hace semanas.",
    ),
    "ciberacoso": (
        "{quien} publicó burlas sobre {a_quien} en redes sociales.",
        "{a_quien} recibe mensajes ofensivos de {quien} por mensajería.",
        "Circula entre estudiantes una imagen de {a_quien} compartida sin permiso.",
    ),
    "sexual": (
        "{a_quien} relató a una docente un hecho de carácter sexual por parte de {quien}.",
        "Se recibió un relato de conducta sexual inapropiada de {quien} hacia {a_quien}.",
    ),
    "discriminacion": (
        "{quien} trató de forma despectiva a {a_quien} por su condición {lugar}.",
        "{a_quien} fue excluido de una actividad por {quien} a causa de su origen.",
    ),
    "armas": (
        "Se encontró un objeto peligroso en la mochila de un estudiante {lugar}.",
        "{quien} mostró un arma a {a_quien} {lugar}.",
    ),
    "pandillas": (
        "{quien} exigió dinero a {a_quien} {lugar} con amenazas.",
        "{a_quien} refiere presiones de {quien} para unirse a un grupo delictivo.",
    ),
    "drogas": (
        "Se encontró a un estudiante consumiendo sustancias {lugar}.",
        "Se detectó el ofrecimiento de sustancias a estudiantes {lugar}.",
    ),
    "autolesion": (
        "{a_quien} presenta señales de autolesión; se le brindó contención.",
        "{a_quien} expresó a una docente ideas de hacerse daño.",
    ),
    "maltrato_hogar": (
        "{a_quien} llega con señales de maltrato en el hogar.",
        "{a_quien} asiste sin alimentación ni materiales de forma repetida; posible descuido.",
    ),
    "contra_personal": (
        "{quien} insultó a {a_quien} {lugar} cuando se le llamó la atención.",
        "{quien} agredió a {a_quien} {lugar}.",
    ),
    "robo_danos": (
        "Desaparecieron útiles y dinero de {a_quien} {lugar}.",
        "{quien} dañó pertenencias de {a_quien} {lugar}.",
    ),
}
CLOSINGS = (
    "", "", "", " Se informó a la dirección.", " Se conversó con las familias.",
    " Se separó a los estudiantes involucrados.", " Se dará seguimiento en la semana.",
)  # fmt: skip
#: How the aggressor and the victim are described, per relationship (the narrative's words).
AGGRESSOR_WORDS = {
    "estudiante_estudiante": ("un estudiante", "una estudiante", "un grupo de estudiantes"),
    "personal_estudiante": ("un docente", "una docente"),
    "familiar_externo_estudiante": ("una persona externa", "un familiar"),
    "estudiante_personal": ("un estudiante", "una estudiante"),
    "familiar_externo_personal": ("un familiar de un estudiante", "una persona externa"),
    "desconocido": ("alguien no identificado",),
    "autoinfligida": ("un estudiante", "una estudiante"),
}
VICTIM_WORDS = {
    "estudiante_estudiante": ("un compañero", "una compañera", "un estudiante", "una estudiante"),
    "estudiante_personal": ("un docente", "una docente"),
    "familiar_externo_personal": ("un docente", "una docente"),
}
STUDENT_VICTIM_WORDS = ("un estudiante", "una estudiante")
#: Descriptions of parties who are not students of the school (never a name).
STAFF_DESCRIPTIONS = ("docente", "docente", "docente", "personal administrativo")
OUTSIDER_DESCRIPTIONS = ("persona externa al centro escolar", "familiar de un estudiante")

#: Immediate measures per kind of incident; codes the catalog lacks are dropped.
MEASURES = {
    "I": (["separacion"], ["aviso_familia"], ["separacion", "aviso_familia"], ["ninguna"],
          ["aviso_direccion"]),
    "II": (["separacion", "aviso_familia"], ["contencion_emocional", "aviso_familia"],
           ["separacion", "aviso_direccion", "aviso_familia"], ["acompanamiento", "aviso_familia"]),
    "III": (["aviso_direccion", "aviso_autoridades", "aviso_familia"],
            ["primeros_auxilios", "atencion_medica", "aviso_familia", "aviso_autoridades"],
            ["resguardo_evidencia", "aviso_autoridades", "aviso_direccion"]),
    "autolesion": (["contencion_emocional", "acompanamiento", "aviso_familia"],
                   ["primeros_auxilios", "atencion_medica", "aviso_familia"]),
    "armas": (["resguardo_objeto", "aviso_direccion", "aviso_familia"],
              ["resguardo_objeto", "aviso_autoridades"]),
}  # fmt: skip
MOTIVATIONS = (
    ([], 0.45), (["conflicto_previo"], 0.25), (["sin_motivo_aparente"], 0.12),
    (["apariencia"], 0.08), (["rendimiento_escolar"], 0.05), (["relacion_pareja"], 0.05),
)  # fmt: skip
#: Repetition for bullying-like categories and for the rest.
REPEATED_CATEGORIES = ("acoso_escolar", "ciberacoso", "maltrato_hogar")
REPETITION = {
    True: {"primera_vez": 0.1, "2_3": 0.45, "4_5": 0.3, "6_mas": 0.15},
    False: {"primera_vez": 0.75, "2_3": 0.2, "4_5": 0.04, "6_mas": 0.01},
}
CLOSED_REASONS = (
    "Tras escuchar a las partes, el hecho no ocurrió como se reportó.",
    "Reporte duplicado de un hecho ya registrado.",
    "Se trató de un juego entre estudiantes sin intención de dañar.",
    "La información recibida no pudo confirmarse con ninguna de las partes.",
)
BULLYING_TYPES = ("ACO_VERBAL", "ACO_FISICO", "ACO_SOCIAL")


@dataclass(frozen=True)
class Reporters:
    """The demo accounts that file, validate and close the invented reports."""

    demo_school_id: int
    docente_id: int
    director_id: int
    admin_id: int


def create_incidents(
    rng: np.random.Generator,
    catalog: Catalog,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    reporters: Reporters,
    now: datetime,
) -> int:
    """Invent and store a year of reports for ``schools``; return how many.

    ``schools`` has ``id`` and ``zone``; ``students`` has ``id``, ``school_id`` and ``grade``.
    """
    incidents, types, parties = generate_incidents(rng, catalog, schools, students, reporters, now)
    if incidents.empty:
        return 0
    connection = db.session.connection()
    first_incident = _next_id(Incident.__table__)
    first_party = _next_id(IncidentParty.__table__)
    incidents["id"] = np.arange(first_incident, first_incident + len(incidents))
    incidents["idempotency_key"] = "demo-" + incidents["id"].astype(str)
    types["incident_id"] = incidents["id"].to_numpy()[types.pop("row").to_numpy()]
    parties["incident_id"] = incidents["id"].to_numpy()[parties.pop("row").to_numpy()]
    parties.insert(0, "id", np.arange(first_party, first_party + len(parties)))
    bulk_upsert(Incident.__table__, incidents, ["id"], [])
    bulk_upsert(IncidentType.__table__, types, ["incident_id", "type_code"], [])
    bulk_upsert(IncidentParty.__table__, parties, ["id"], [])
    if connection.dialect.name == "postgresql":
        # The ids were given, so the sequences did not move.
        for table in (Incident.__table__, IncidentParty.__table__):
            connection.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                {"table": table.name, "last": _next_id(table) - 1},
            )
    return len(incidents)


def _next_id(table: sa.Table) -> int:
    return int(db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1


def generate_incidents(
    rng: np.random.Generator,
    catalog: Catalog,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    reporters: Reporters,
    now: datetime,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (incidents, types, parties), ordered by filing time.

    ``types`` and ``parties`` point at their incident by ``row``, its position in ``incidents``;
    incidents have neither ``id`` nor ``idempotency_key`` yet.
    """
    pool = _StudentPool(rng, schools, students)
    today = pd.Timestamp(now.astimezone(UTC).date(), tz="UTC")
    general = _general(rng, catalog, pool, schools, reporters, today)
    planted = _planted(rng, catalog, pool, schools, reporters, today)
    frame = pd.concat([general, planted], ignore_index=True)

    frame["reported_at"] = frame["occurred_at"] + pd.to_timedelta(
        np.minimum(rng.exponential(6, len(frame)), 72), unit="h"
    )
    frame["reported_at"] = frame["reported_at"].clip(upper=pd.Timestamp(now))
    frame = frame.sort_values("reported_at", kind="stable", ignore_index=True)
    frame = _statuses(rng, frame, reporters, pd.Timestamp(now))
    frame = _describe(rng, catalog, frame)

    types = _types(rng, catalog, frame)
    parties = _parties(rng, frame, pool)
    frame["names_staff_aggressor"] = frame["relationship_code"] == "personal_estudiante"
    frame["catalog_version"] = catalog.version
    frame["created_at"] = frame["reported_at"]
    frame["updated_at"] = frame[["reported_at", "validated_at", "closed_at"]].max(axis=1)
    frame["channel"] = np.where(frame["school_id"] == reporters.demo_school_id, "web", "api")
    columns = [
        "school_id", "reporter_id", "catalog_version", "occurred_at", "reported_at", "channel",
        "location", "relationship_code", "repetition", "motivations", "measures", "narrative",
        "measures_note", "status", "names_staff_aggressor", "validated_by_id", "validated_at",
        "closed_by_id", "closed_at", "closed_reason", "created_at", "updated_at",
    ]  # fmt: skip
    return frame[columns], types, parties


class _StudentPool:
    """The students each school can draw parties from: old enough ones first."""

    def __init__(self, rng: np.random.Generator, schools: pd.DataFrame, students: pd.DataFrame):
        students = students[students["school_id"].isin(schools["id"])]
        young = students["grade"].isin(YOUNG_GRADES).to_numpy()
        order = np.lexsort((rng.random(len(students)), young, students["school_id"].to_numpy()))
        self.ids = students["id"].to_numpy()[order]
        school_ids = students["school_id"].to_numpy()[order]
        position = pd.Index(schools["id"])
        # Per school (in the order of ``schools``): where its students start, how many to use.
        totals = np.bincount(position.get_indexer(school_ids), minlength=len(schools))
        olds = np.bincount(position.get_indexer(school_ids[~young[order]]), minlength=len(schools))
        self.start = np.cumsum(totals) - totals
        self.student_count = int(totals.sum())
        # Schools with few old enough students use them all.
        self.size = np.where(olds > MAX_STUDENT_PARTIES, olds, totals)

    def draw(self, rng, school: np.ndarray, slot: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Return distinct students per incident: ``slot`` numbers them 0, 1… per incident."""
        size = self.size[school]
        step = np.maximum((size - 1) // MAX_STUDENT_PARTIES, 1)
        jump = np.where(slot == 0, 0, rng.integers(0, 1 << 30, len(slot)) % step + 1)
        # Steps add up to less than the school's size: no student twice in one incident.
        total = np.cumsum(jump)
        total -= np.repeat(total[first] - jump[first], np.diff(np.append(first, len(slot))))
        base = rng.integers(0, 1 << 30, len(slot))[first]
        base = np.repeat(base, np.diff(np.append(first, len(slot))))
        return self.ids[self.start[school] + (base + total) % size]


def _choice(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    codes = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=float)
    return codes[rng.choice(len(codes), size=size, p=p / p.sum())]


def _day_weights(today: pd.Timestamp) -> np.ndarray:
    """Weight of each of the past ``HISTORY_DAYS`` days (index 0: yesterday): school days."""
    days = today - pd.to_timedelta(np.arange(1, HISTORY_DAYS + 1), unit="D")
    weekday = np.where(days.day_of_week < 5, 1.0, 0.08)
    # The school year runs from late January to early November.
    month = pd.Series(days.month).map({12: 0.05, 1: 0.35, 11: 0.5}).fillna(1.0).to_numpy()
    return weekday * month


def _occurred(rng, today: pd.Timestamp, count: int, weights: np.ndarray) -> pd.Series:
    days = rng.choice(len(weights), size=count, p=weights / weights.sum()) + 1
    local_hour = np.clip(rng.normal(10.5, 2.5, count), 6.5, 17.9)
    # Yesterday at 17:59 local is at most today 00:00 UTC: never in the future.
    hours = local_hour + UTC_OFFSET_HOURS - 24 * days
    return pd.Series(today + pd.to_timedelta(np.round(hours * 60), unit="min"))


def _general(rng, catalog, pool, schools, reporters, today) -> pd.DataFrame:
    """The bulk of the history: reports spread over schools and the year."""
    size = pool.size.astype(float)
    rate = rng.lognormal(0.0, 0.8, len(schools))
    rate *= np.where(schools["zone"].to_numpy() == "urbana", 1.3, 0.8)
    rate *= np.where(rng.random(len(schools)) < UNDER_REPORTING_SHARE, 0.1, 1.0)
    is_demo = schools["id"].to_numpy() == reporters.demo_school_id
    rate[is_demo] = np.maximum(rate[is_demo], 1.5)
    expected = rate * size
    expected *= INCIDENTS_PER_STUDENT_YEAR * pool.student_count / expected.sum()
    counts = rng.poisson(expected)
    school = np.repeat(np.arange(len(schools)), counts)
    silent = (rng.random(len(schools)) < SILENT_SHARE) & ~is_demo

    weights = _day_weights(today)
    quiet = weights.copy()
    quiet[:SILENT_DAYS] = 0
    occurred = _occurred(rng, today, len(school), weights)
    in_silent = silent[school]
    occurred[in_silent] = _occurred(rng, today, int(in_silent.sum()), quiet).to_numpy()

    known = {code: w for code, w in TYPE_WEIGHTS.items() if code in catalog.types}
    main = _choice(rng, known, len(school))
    relationship = np.empty(len(school), dtype=object)
    for code in np.unique(main):
        mask = main == code
        allowed = catalog.types[code].relationships
        weights_of = TYPE_RELATIONSHIPS.get(code, DEFAULT_RELATIONSHIPS)
        if allowed:
            weights_of = {r: w for r, w in weights_of.items() if r in allowed} or dict.fromkeys(
                allowed, 1.0
            )
        relationship[mask] = _choice(rng, weights_of, int(mask.sum()))
    return pd.DataFrame(
        {
            "school": school,
            "school_id": schools["id"].to_numpy()[school],
            "occurred_at": occurred,
            "main_type": main,
            "relationship_code": relationship,
            "pair_victim": pd.array([pd.NA] * len(school), dtype="Int64"),
            "pair_aggressor": pd.array([pd.NA] * len(school), dtype="Int64"),
            "repetition": pd.Series([None] * len(school), dtype=object),
        }
    )


def _planted(rng, catalog, pool, schools, reporters, today) -> pd.DataFrame:
    """Bullying patterns: one aggressor against one victim, again and again, in three weeks."""
    codes = [code for code in BULLYING_TYPES if code in catalog.types]
    ids = schools["id"].to_numpy()
    demo = np.flatnonzero(ids == reporters.demo_school_id)
    candidates = np.flatnonzero((pool.size >= 10) & (ids != reporters.demo_school_id))
    howmany = min(max(3, len(schools) // 100), len(candidates))
    chosen = rng.choice(candidates, size=howmany, replace=False) if howmany else candidates
    chosen = np.concatenate([demo[pool.size[demo] >= 2], chosen]).astype(int)
    if not codes or not len(chosen):
        return pd.DataFrame()
    rows = []
    repetitions = ["2_3", "2_3", "4_5", "4_5", "6_mas", "6_mas", "6_mas"]
    for number, school in enumerate(chosen):
        pair = pool.draw(rng, np.array([school, school]), np.array([0, 1]), np.array([0]))
        times = rng.integers(*PATTERN_TIMES)
        # The demo school's pattern is still going on; the others happened during the year.
        last = 1 if number == 0 and len(demo) else int(rng.integers(1, 200))
        days = last + np.sort(rng.choice(PATTERN_DAYS, size=times, replace=False))[::-1]
        hours = np.clip(rng.normal(10.5, 2, times), 6.5, 17.9) + UTC_OFFSET_HOURS - 24 * days
        for index in range(times):
            rows.append(
                {
                    "school": school,
                    "school_id": ids[school],
                    "occurred_at": today + pd.Timedelta(minutes=round(hours[index] * 60)),
                    "main_type": codes[rng.integers(len(codes))],
                    "relationship_code": "estudiante_estudiante",
                    "pair_victim": pair[0],
                    "pair_aggressor": pair[1],
                    "repetition": repetitions[index],
                }
            )
    frame = pd.DataFrame(rows)
    return frame.astype({"pair_victim": "Int64", "pair_aggressor": "Int64"})


def _statuses(rng, frame: pd.DataFrame, reporters: Reporters, now: pd.Timestamp) -> pd.DataFrame:
    count = len(frame)
    recent = (now - frame["occurred_at"]).to_numpy() < np.timedelta64(7, "D")
    draw = rng.random(count)
    status = np.where(draw < 0.03, "infundado", np.where(draw < 0.13, "reportado", "validado"))
    status = np.where(recent & (rng.random(count) < 0.5), "reportado", status)
    status = np.where(frame["pair_victim"].notna() & (status == "infundado"), "validado", status)
    at_demo = frame["school_id"].to_numpy() == reporters.demo_school_id
    reporter = np.where(at_demo, reporters.docente_id, reporters.admin_id)
    principal = np.where(at_demo, reporters.director_id, reporters.admin_id)
    later = frame["reported_at"] + pd.to_timedelta(rng.exponential(30, count), unit="h")
    later = later.clip(upper=now)
    validated = status == "validado"
    closed = status == "infundado"
    empty = pd.Series(pd.NaT, index=frame.index, dtype=later.dtype)
    return frame.assign(
        status=status,
        reporter_id=reporter,
        validated_by_id=pd.array(np.where(validated, principal, 0), dtype="Int64"),
        validated_at=later.where(validated, empty),
        closed_by_id=pd.array(np.where(closed, principal, 0), dtype="Int64"),
        closed_at=later.where(closed, empty),
        closed_reason=np.where(
            closed, np.array(CLOSED_REASONS, dtype=object)[rng.integers(0, 4, count)], None
        ),
    ).assign(
        validated_by_id=lambda f: f["validated_by_id"].where(validated, pd.NA),
        closed_by_id=lambda f: f["closed_by_id"].where(closed, pd.NA),
    )


def _describe(rng, catalog: Catalog, frame: pd.DataFrame) -> pd.DataFrame:
    """Add location, repetition, motivations, measures and the narrative."""
    count = len(frame)
    main = frame["main_type"].to_numpy()
    category = np.array([catalog.types[code].category for code in main], dtype=object)
    tier = np.array([catalog.types[code].tier for code in main], dtype=object)

    location = np.empty(count, dtype=object)
    for name in np.unique(category):
        mask = category == name
        weights = CATEGORY_LOCATIONS.get(name, DEFAULT_LOCATIONS)
        weights = {c: w for c, w in weights.items() if c in catalog.locations} or {
            next(iter(catalog.locations)): 1.0
        }
        location[mask] = _choice(rng, weights, int(mask.sum()))

    repeated = np.isin(category, REPEATED_CATEGORIES)
    repetition = np.where(
        repeated,
        _choice(rng, REPETITION[True], count),
        _choice(rng, REPETITION[False], count),
    )
    given = frame["repetition"].notna().to_numpy()
    repetition[given] = frame["repetition"].to_numpy()[given]

    motivations = _choice(rng, {json.dumps(m): w for m, w in MOTIVATIONS}, count)
    factors = [code for code, entry in catalog.motivations.items() if entry.is_discrimination]
    needs_factor = np.array([catalog.types[code].requires_factor for code in main])
    if factors and needs_factor.any():
        picked = np.array(factors, dtype=object)[rng.integers(0, len(factors), needs_factor.sum())]
        motivations[needs_factor] = [json.dumps([code]) for code in picked]

    kind = np.where(np.isin(category, ["autolesion", "armas"]), category, tier)
    measures = np.empty(count, dtype=object)
    for name in np.unique(kind):
        mask = kind == name
        bundles = [
            json.dumps([c for c in bundle if c in catalog.measures]) for bundle in MEASURES[name]
        ]
        measures[mask] = np.array(bundles, dtype=object)[rng.integers(0, len(bundles), mask.sum())]

    relationship = frame["relationship_code"].to_numpy()
    template = np.empty(count, dtype=object)
    for name in np.unique(category):
        mask = category == name
        options = np.array(TEMPLATES[name], dtype=object)
        template[mask] = options[rng.integers(0, len(options), mask.sum())]
    aggressor = np.empty(count, dtype=object)
    victim = np.empty(count, dtype=object)
    for name in np.unique(relationship):
        mask = relationship == name
        words = np.array(AGGRESSOR_WORDS.get(name, ("alguien",)), dtype=object)
        aggressor[mask] = words[rng.integers(0, len(words), mask.sum())]
        words = np.array(VICTIM_WORDS.get(name, STUDENT_VICTIM_WORDS), dtype=object)
        victim[mask] = words[rng.integers(0, len(words), mask.sum())]
    closing = np.array(CLOSINGS, dtype=object)[rng.integers(0, len(CLOSINGS), count)]
    parts = pd.DataFrame({"t": template, "q": aggressor, "v": victim, "l": location, "c": closing})
    codes, unique = pd.MultiIndex.from_frame(parts).factorize()
    texts = np.array(
        [
            _sentence(t, q, v, LOCATION_PHRASES.get(loc, "en el centro escolar")) + c
            for t, q, v, loc, c in unique
        ],
        dtype=object,
    )
    return frame.assign(
        location=location,
        repetition=repetition,
        motivations=motivations,
        measures=measures,
        narrative=texts[codes],
        measures_note="",
    )


def _sentence(template: str, aggressor: str, victim: str, place: str) -> str:
    text = template.format(quien=aggressor, a_quien=victim, lugar=place)
    return text[0].upper() + text[1:]


def _types(rng, catalog: Catalog, frame: pd.DataFrame) -> pd.DataFrame:
    main = frame["main_type"].to_numpy()
    rows = np.arange(len(frame))
    companion = pd.Series(main).map(COMPANIONS).to_numpy()
    has = pd.notna(companion) & (rng.random(len(frame)) < COMPANION_SHARE)
    has &= np.isin(companion, list(catalog.types))
    codes = np.concatenate([main, companion[has]])
    return pd.DataFrame(
        {
            "row": np.concatenate([rows, rows[has]]),
            "type_code": codes,
            "tier": [catalog.types[code].tier for code in codes],
        }
    )


#: Student parties per relationship: (victims, aggressors) choices with their probabilities,
#: and the chance of a student witness. Other parties are added by ``_parties``.
STUDENT_VICTIMS = {"estudiante_personal": 0, "familiar_externo_personal": 0}
AGGRESSORS_ARE_STUDENTS = ("estudiante_estudiante", "estudiante_personal")
OTHER_AGGRESSOR = {
    "personal_estudiante": "personal",
    "familiar_externo_estudiante": "externo",
    "familiar_externo_personal": "externo",
    "desconocido": "desconocido",
}
OTHER_VICTIM = {"estudiante_personal": "personal", "familiar_externo_personal": "personal"}


def _parties(rng, frame: pd.DataFrame, pool: _StudentPool) -> pd.DataFrame:
    count = len(frame)
    relationship = frame["relationship_code"].to_numpy()
    planted = frame["pair_victim"].notna().to_numpy()
    victims = np.where(rng.random(count) < 0.15, 2, 1)
    victims = np.where(np.isin(relationship, list(STUDENT_VICTIMS)), 0, victims)
    aggressors = rng.choice([1, 2, 3], size=count, p=[0.7, 0.22, 0.08])
    aggressors = np.where(np.isin(relationship, AGGRESSORS_ARE_STUDENTS), aggressors, 0)
    witnesses = (rng.random(count) < 0.25).astype(int)
    victims[planted], aggressors[planted] = 1, 1
    total = victims + aggressors + witnesses
    small = pool.size[frame["school"].to_numpy()] < total
    # A school with hardly any students: one victim, no one else from the school.
    victims[small], aggressors[small], witnesses[small] = 1, 0, 0
    total = victims + aggressors + witnesses

    row = np.repeat(np.arange(count), total)
    first = np.cumsum(total) - total
    slot = np.arange(len(row)) - np.repeat(first, total)
    student = pool.draw(rng, np.repeat(frame["school"].to_numpy(), total), slot, first)
    role = np.where(
        slot < np.repeat(victims, total),
        "victima",
        np.where(slot < np.repeat(victims + aggressors, total), "agresor", "testigo"),
    )
    # The planted pairs keep their victim and aggressor.
    at = first[planted]
    student[at] = frame["pair_victim"].to_numpy()[planted].astype(int)
    student[at + 1] = frame["pair_aggressor"].to_numpy()[planted].astype(int)
    students = pd.DataFrame(
        {"row": row, "role": role, "kind": "estudiante", "student_id": student, "description": ""}
    )

    others = []
    for mapping, role_name in ((OTHER_AGGRESSOR, "agresor"), (OTHER_VICTIM, "victima")):
        kind = pd.Series(relationship).map(mapping).to_numpy()
        where = np.flatnonzero(pd.notna(kind))
        kind = kind[where].astype(str)
        description = np.where(
            kind == "personal",
            np.array(STAFF_DESCRIPTIONS, dtype=object)[rng.integers(0, 4, len(kind))],
            np.where(
                kind == "externo",
                np.array(OUTSIDER_DESCRIPTIONS, dtype=object)[rng.integers(0, 2, len(kind))],
                "",
            ),
        )
        others.append(
            pd.DataFrame(
                {
                    "row": where,
                    "role": role_name,
                    "kind": kind,
                    "student_id": pd.array([pd.NA] * len(where), dtype="Int64"),
                    "description": description,
                }
            )
        )
    parties = pd.concat(
        [students.astype({"student_id": "Int64"}), *others], ignore_index=True
    ).sort_values(["row"], kind="stable", ignore_index=True)
    return parties[["row", "role", "kind", "student_id", "description"]]
