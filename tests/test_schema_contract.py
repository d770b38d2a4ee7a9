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


NEXT = REPO / "contract" / "next.graphql"
PUBLISHED_NEXT = REPO.parent / "shared" / "contract" / "next.graphql"


def _next_contract():
    from graphql import extend_schema, parse

    return extend_schema(build_schema(CONTRACT.read_text()), parse(NEXT.read_text()))


def test_what_is_built_of_next_graphql_has_its_names_and_types_exactly() -> None:
    """An addition of next.graphql, once built, is contract: same type, same arguments and defaults,
    same enum values. What is not built yet is simply absent."""
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLUnionType

    promised, built = _next_contract(), build_schema(SCHEMA_FILE.read_text())
    differences = []
    for name, want in promised.type_map.items():
        have = built.type_map.get(name)
        if name.startswith("__") or have is None:
            continue
        if isinstance(want, (GraphQLObjectType, GraphQLInputObjectType)):
            for field_name, field in want.fields.items():
                got = have.fields.get(field_name)  # type: ignore[union-attr]
                if got is None:
                    continue
                if str(got.type) != str(field.type):
                    differences.append(f"{name}.{field_name}: {got.type} instead of {field.type}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    mine = got.args.get(arg_name)
                    if mine is None or str(mine.type) != str(arg.type) or mine.default_value != arg.default_value:
                        differences.append(f"{name}.{field_name}({arg_name}) differs or is missing")
        elif isinstance(want, GraphQLEnumType):
            missing = set(want.values) - set(have.values)  # type: ignore[union-attr]
            differences += [f"{name}.{value} missing" for value in sorted(missing)]
        elif isinstance(want, GraphQLUnionType):
            if {t.name for t in want.types} != {t.name for t in have.types}:  # type: ignore[union-attr]
                differences.append(f"union {name} differs")
    assert differences == []


def test_the_repository_copy_of_the_additions_is_the_published_one() -> None:
    if PUBLISHED_NEXT.exists():
        assert NEXT.read_text() == PUBLISHED_NEXT.read_text(), f"copy {PUBLISHED_NEXT} to {NEXT}"


def test_every_addition_of_next_graphql_is_built_and_kept() -> None:
    """All of next.graphql is built, so all of it is contract now: nothing of it may go or change."""
    assert [c.description for c in find_breaking_changes(_next_contract(), build_schema(SCHEMA_FILE.read_text()))] == []


def test_the_repository_copy_of_the_contract_readme_is_the_published_one() -> None:
    published = REPO.parent / "shared" / "contract" / "README.md"
    if published.exists():
        assert (REPO / "contract" / "README.md").read_text() == published.read_text(), f"copy {published}"
