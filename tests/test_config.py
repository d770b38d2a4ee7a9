"""The settings an operator reads about are the settings the server runs with."""

from __future__ import annotations

import re
from pathlib import Path

from boxoffice.config import load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def documented_numeric_defaults() -> dict[str, str]:
    """README's configuration table: each variable whose 'unset' cell is a plain number."""
    text = README.read_text()
    section = text[text.index("## Configuration (environment)"):]
    section = section[:section.index("\n## ", 5)]
    rows = (re.match(r"^\| `([A-Z_]+)` \|.*\| ([^|]*) \|$", line) for line in section.splitlines())
    return {m.group(1): m.group(2).strip() for m in rows
            if m is not None and re.fullmatch(r"\d+(\.\d+)?", m.group(2).strip())}


def test_every_documented_default_is_the_default_the_server_uses() -> None:
    documented = documented_numeric_defaults()
    assert "BOXOFFICE_MAX_IN_FLIGHT" in documented and len(documented) >= 20, documented
    unset = load_settings({})
    for name, default in documented.items():
        # Set to what README says it is when unset: nothing changes...
        assert load_settings({name: default}) == unset, f"README gives {name} a default of {default}"
        # ...and the server does read it (a different value changes the settings).
        other = {"0": "1", "1": "0"}.get(default) or (str(float(default) * 2) if "." in default
                                                       else str(int(default) * 2))
        assert load_settings({name: other}) != unset, f"{name} is documented but not read"
