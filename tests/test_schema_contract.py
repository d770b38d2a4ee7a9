"""The exported schema is current and a compatible superset of the public contract."""

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from boxoffice.schema.build import SCHEMA_FILE, export_sdl

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schema.graphql"


def test_exported_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == export_sdl(), "run: python -m boxoffice.schema.build"


def test_no_breaking_change_against_the_contract() -> None:
    assert CONTRACT.exists(), f"the public contract is expected at {CONTRACT}"
    old = build_schema(CONTRACT.read_text())
    new = build_schema(SCHEMA_FILE.read_text())
    assert [c.description for c in find_breaking_changes(old, new)] == []
