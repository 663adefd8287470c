"""Read, validate and store the violence catalog of ``catalogs/``.

Reading and validation are pure functions: ``load_catalog(directory)`` returns a ``Catalog`` or
raises ``CatalogError`` listing every problem, each naming the file, entry and field, e.g.
``violence.yaml: types[SEX_ACOSO].tier: must be I, II or III, not "IV"``. Entries are named by
their code, or by their position (``types[#3]``) when the code itself is unusable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from salve.catalog.entries import Catalog, CatalogError, CatalogVersionConflict
from salve.catalog.models import CatalogVersion
from salve.catalog.validation import INSTITUTION_CODE, SNAKE_CODE, Reader
from salve.extensions import db

VIOLENCE_FILE = "violence.yaml"
INSTITUTIONS_FILE = "institutions.yaml"
MAPPINGS_FILE = "catalog_mappings.yaml"
#: The files that together make one catalog version, in the order they are read.
CATALOG_FILES = (VIOLENCE_FILE, INSTITUTIONS_FILE, MAPPINGS_FILE)


# --- Reading ------------------------------------------------------------------------------------


#: libyaml's parser when PyYAML was built with it: about ten times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """A safe loader that refuses a key given twice (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def load_catalog(directory: str | Path) -> Catalog:
    """Read and validate the catalog files in ``directory``."""
    directory = Path(directory)
    documents, errors = {}, []
    for name in CATALOG_FILES:
        try:
            text = (directory / name).read_text(encoding="utf-8")
            documents[name] = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
        except FileNotFoundError:
            errors.append(f"{name}: file not found in {directory}")
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            errors.append(f"{name}: {where}{error.problem or error.context}")
    if errors:
        raise CatalogError(errors)
    return build_catalog(documents)


def build_catalog(documents: Mapping[str, Any]) -> Catalog:
    """Validate parsed catalog files (file name → content) and build the ``Catalog``."""
    content = {name: _jsonable(documents.get(name)) for name in CATALOG_FILES}
    errors: list[str] = []
    institutions = Reader(INSTITUTIONS_FILE, content[INSTITUTIONS_FILE], errors)
    reader = Reader(VIOLENCE_FILE, content[VIOLENCE_FILE], errors)
    mapping_reader = Reader(MAPPINGS_FILE, content[MAPPINGS_FILE], errors)
    institutions.top_level({"institutions"})
    reader.top_level(
        {"version", "valid_from", "relationships", "categories", "protocols", "types",
         "locations", "repetition", "motivations", "measures"}
    )  # fmt: skip
    mapping_reader.top_level({"mappings"})

    version = reader.version()
    valid_from = reader.valid_from()
    sections = {
        name: reader.entries(name, SNAKE_CODE)
        for name in ("relationships", "categories", "locations", "measures")
    }
    institution_entries = institutions.entries("institutions", INSTITUTION_CODE)
    repetition = reader.repetition()
    motivations = reader.motivations()
    protocols = reader.protocols()
    types = reader.types(
        categories=sections["categories"],
        institutions=institution_entries,
        protocols=protocols,
        relationships=sections["relationships"],
        has_factors=any(m.is_discrimination for m in motivations.values()),
    )
    mappings = mapping_reader.mappings(types)
    if errors:
        raise CatalogError(errors)
    return Catalog(
        version=version,
        valid_from=valid_from,
        content=content,
        content_hash=content_hash(content),
        categories=sections["categories"],
        types=types,
        types_by_category={
            code: tuple(t for t in types.values() if t.category == code)
            for code in sections["categories"]
        },
        relationships=sections["relationships"],
        locations=sections["locations"],
        repetition=repetition,
        motivations=motivations,
        measures=sections["measures"],
        institutions=institution_entries,
        protocols=protocols,
        mappings=mappings,
    )


def content_hash(content: dict) -> str:
    """Return the SHA-256 of the catalog content in a canonical JSON form."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- Storing ------------------------------------------------------------------------------------


def store_version(catalog: Catalog) -> tuple[CatalogVersion, bool]:
    """Store ``catalog`` unless its version is stored; return the row and whether it is new.

    Refuses a version that is already stored with different content: a change must bump the
    version, or incidents filed under it would silently change meaning.
    """
    stored = db.session.scalar(
        sa.select(CatalogVersion).where(CatalogVersion.version == catalog.version)
    )
    if stored is not None:
        if stored.content_hash != catalog.content_hash:
            raise CatalogVersionConflict(
                [
                    f'{VIOLENCE_FILE}: version: "{catalog.version}" is already stored with '
                    "different content; a changed catalog needs a new version"
                ]
            )
        return stored, False
    row = CatalogVersion(
        version=catalog.version,
        valid_from=catalog.valid_from,
        content_hash=catalog.content_hash,
        content=catalog.content,
    )
    db.session.add(row)
    db.session.flush()
    return row, True
