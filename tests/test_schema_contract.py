"""The exported schema is current and a compatible superset of the public contract."""

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from boxoffice.schema.build import SCHEMA_FILE, export_sdl

REPO = Path(__file__).resolve().parents[1]
# The published contract, versioned with the code.
CONTRACT = REPO / "contract" / "schema.graphql"
# Where the contract is published beside the repository, in a checkout that has it.
PUBLISHED = REPO.parent / "shared" / "contract" / "schema.graphql"


def test_exported_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == export_sdl(), "run: python -m boxoffice.schema.build"


def test_no_breaking_change_against_the_contract() -> None:
    old = build_schema(CONTRACT.read_text())
    new = build_schema(SCHEMA_FILE.read_text())
    assert [c.description for c in find_breaking_changes(old, new)] == []


def test_the_repository_copy_is_the_published_contract() -> None:
    # A clone on its own has only the repository copy: nothing to compare it with.
    if PUBLISHED.exists():
        assert CONTRACT.read_text() == PUBLISHED.read_text(), f"copy {PUBLISHED} to {CONTRACT}"
