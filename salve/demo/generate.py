"""Generate an invented but plausible school system, whole columns at a time (numpy).

Pure functions: they take a random generator and the geography, and return DataFrames in the
database's column names, ready for ``salve.bulk.bulk_upsert``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salve.demo import names

#: Share of the population per department (DIGESTYC code), roughly as the census has it.
DEPARTMENT_WEIGHTS = {
    "01": 5.9, "02": 9.0, "03": 7.5, "04": 3.1, "05": 12.4, "06": 21.0, "07": 4.3,
    "08": 5.5, "09": 2.6, "10": 2.9, "11": 5.8, "12": 7.6, "13": 3.2, "14": 3.8,
}  # fmt: skip
#: Share of urban schools: the metropolitan departments are mostly urban.
URBAN_SHARE = {"06": 0.85, "05": 0.6, "02": 0.45, "12": 0.45, "03": 0.4}
DEFAULT_URBAN_SHARE = 0.3

#: Grades in school order, with the level each belongs to and the age it is meant for.
GRADES = (
    "Parvularia 4", "Parvularia 5", "Parvularia 6", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "1 bachillerato", "2 bachillerato", "3 bachillerato",
)  # fmt: skip
GRADE_LEVELS = np.array(["parvularia"] * 3 + ["basica1"] * 3 + ["basica2"] * 3
                        + ["basica3"] * 3 + ["media"] * 3)  # fmt: skip
GRADE_AGES = np.array([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18])
#: Relative enrolment per grade: fewer children in the upper grades (drop-out), few in the third
#: year of bachillerato (only the technical track has it).
GRADE_WEIGHTS = np.array(
    [0.5, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.15]
)
SECTION_SIZE = 35
SECTION_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))

#: School kinds: name prefix, levels offered.
KINDS = {
    "rural_small": ("Centro Escolar Caserío", "parvularia,basica1,basica2"),
    "rural": ("Centro Escolar Cantón", "parvularia,basica1,basica2,basica3"),
    "basic": ("Centro Escolar", "parvularia,basica1,basica2,basica3"),
    "complex": ("Complejo Educativo", "parvularia,basica1,basica2,basica3,media"),
    "institute": ("Instituto Nacional de", "media"),
    "private": ("", "parvularia,basica1,basica2,basica3,media"),
}


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` (largest remainder), at least 1 each."""
    shares = weights / weights.sum() * total
    counts = np.maximum(np.floor(shares).astype(int), 1)
    remainder = total - counts.sum()
    if remainder > 0:
        counts[np.argsort(-(shares - np.floor(shares)))[:remainder]] += 1
    return counts


def generate_schools(
    rng: np.random.Generator,
    geography: pd.DataFrame,
    count: int,
    student_count: int,
    taken_codes: set[str] = frozenset(),
) -> pd.DataFrame:
    """Return ``count`` schools spread over the departments, enrolling about ``student_count``.

    ``geography`` has a row per district with ``district_id``, ``district_name``,
    ``department_id`` and ``department_code``.
    """
    codes_in_order = sorted(DEPARTMENT_WEIGHTS)
    per_department = allocate(count, np.array([DEPARTMENT_WEIGHTS[c] for c in codes_in_order]))
    department_code = np.repeat(codes_in_order, per_department)
    # Districts of a department get uneven shares, as towns do.
    districts = geography.assign(weight=rng.gamma(1.5, size=len(geography)))
    chosen = []
    for code, how_many in zip(codes_in_order, per_department, strict=True):
        local = districts[districts["department_code"] == code]
        picks = rng.choice(len(local), size=how_many, p=local["weight"] / local["weight"].sum())
        chosen.append(local.iloc[np.sort(picks)])
    schools = pd.concat(chosen, ignore_index=True)

    urban_share = pd.Series(department_code).map(URBAN_SHARE).fillna(DEFAULT_URBAN_SHARE)
    is_urban = rng.random(count) < urban_share.to_numpy()
    is_private = rng.random(count) < np.where(is_urban, 0.22, 0.02)
    size = np.where(
        is_urban, rng.lognormal(np.log(380), 0.75, count), rng.lognormal(np.log(85), 0.55, count)
    )
    size = np.clip(size, np.where(is_urban, 80, 20), np.where(is_urban, 2800, 700))
    size = np.maximum(np.round(size * student_count / size.sum()), 8).astype(int)

    draw = rng.random(count)
    kind = np.select(
        [
            is_private,
            ~is_urban & (size < 70),
            ~is_urban & (draw < 0.12),
            ~is_urban,
            draw < 0.55,
            draw < 0.85,
        ],
        ["private", "rural_small", "complex", "rural", "basic", "complex"],
        default="institute",
    )
    prefix = pd.Series(kind).map({key: value[0] for key, value in KINDS.items()})
    namesake = pd.Series(rng.choice(names.NAMESAKES, count))
    place = pd.Series(rng.choice(names.PLACES, count))
    name = np.select(
        [kind == "private", np.isin(kind, ["rural_small", "rural"]), kind == "institute"],
        [
            rng.choice(np.array(names.PRIVATE_NAMES, dtype=object), count),
            (prefix + " " + place).to_numpy(dtype=object),
            (prefix + " " + schools["district_name"]).to_numpy(dtype=object),
        ],
        default=(prefix + " " + namesake).to_numpy(dtype=object),
    )
    female = rng.binomial(size, 0.49)
    return pd.DataFrame(
        {
            "code": _school_codes(rng, count, taken_codes),
            "name": name,
            "sector": np.where(is_private, "privado", "publico"),
            "zone": np.where(is_urban, "urbana", "rural"),
            "district_id": schools["district_id"].to_numpy(),
            "department_id": schools["department_id"].to_numpy(),
            "levels": pd.Series(kind).map({key: value[1] for key, value in KINDS.items()}),
            "enrolment_female": female,
            "enrolment_male": size - female,
            "is_active": True,
        }
    )


def _school_codes(rng: np.random.Generator, count: int, taken: set[str]) -> np.ndarray:
    pool = np.setdiff1d(np.arange(10_000, 90_000), np.array(sorted(taken), dtype=int))
    # Sorted, so codes rise department by department as the rows do.
    return np.sort(rng.choice(pool, size=count, replace=False)).astype(str)


def generate_students(
    rng: np.random.Generator, schools: pd.DataFrame, first_nie: int, school_year: int
) -> pd.DataFrame:
    """Return the students of ``schools`` (with ``id``), as many of each sex as enrolled."""
    female = schools["enrolment_female"].to_numpy()
    sizes = female + schools["enrolment_male"].to_numpy()
    total = int(sizes.sum())
    school = np.repeat(np.arange(len(schools)), sizes)
    position = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    is_female = position < np.repeat(female, sizes)

    offered = np.stack(
        [schools["levels"].str.contains(level).to_numpy() for level in GRADE_LEVELS], axis=1
    )
    weights = offered * GRADE_WEIGHTS
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    draw = rng.random(total)
    grade = np.zeros(total, dtype=int)
    for column in range(len(GRADES) - 1):  # 14 passes over the students, not 1.3M over grades
        grade += draw > cumulative[school, column]

    # Balanced sections of at most SECTION_SIZE per school and grade.
    frame = pd.DataFrame({"school": school, "grade": grade})
    group = frame.groupby(["school", "grade"])
    sections = -(-group["grade"].transform("size") // SECTION_SIZE)
    section = group.cumcount() % sections

    over_age = rng.choice([0, 1, 2, 3], size=total, p=[0.8, 0.13, 0.05, 0.02])
    birth_year = school_year - GRADE_AGES[grade] - over_age
    birth_date = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + rng.integers(
        0, 365, total
    ).astype("timedelta64[D]")
    nie = first_nie + np.cumsum(rng.integers(1, 12, total))
    return pd.DataFrame(
        {
            "nie": rng.permutation(nie).astype(str),
            "school_id": schools["id"].to_numpy()[school],
            "given_names": _given_names(rng, is_female),
            "family_names": _pick(rng, names.FAMILY_NAMES, total)
            + " "
            + _pick(rng, names.FAMILY_NAMES, total),
            "sex": np.where(is_female, "F", "M"),
            "birth_date": pd.Series(birth_date).dt.strftime("%Y-%m-%d"),
            "grade": np.array(GRADES)[grade],
            "section": SECTION_LETTERS[np.minimum(section.to_numpy(), 25)],
            "is_active": True,
        }
    )


def _pick(rng: np.random.Generator, words: tuple[str, ...], count: int) -> np.ndarray:
    return np.array(words, dtype=object)[rng.integers(0, len(words), count)]


def _given_names(rng: np.random.Generator, is_female: np.ndarray) -> np.ndarray:
    """Return one or two given names per student, never the same name twice."""
    total = len(is_female)
    lists = [np.array(names.MALE_NAMES, dtype=object), np.array(names.FEMALE_NAMES, dtype=object)]
    first = np.empty(total, dtype=object)
    second = np.empty(total, dtype=object)
    for sex, words in enumerate(lists):
        mask = is_female == bool(sex)
        index = rng.integers(0, len(words), mask.sum())
        first[mask] = words[index]
        second[mask] = words[(index + rng.integers(1, len(words), mask.sum())) % len(words)]
    has_two = rng.random(total) < 0.8
    return np.where(has_two, first + " " + second, first)
