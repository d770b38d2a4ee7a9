"""The GraphQL documents the frontend sample sends, read from its sources (for differential tests)."""

from __future__ import annotations

import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[1] / "frontend-sample" / "src"


def frontend_documents() -> dict[str, str]:
    """Every query and mutation the frontend sample sends, by operation name, its template
    constants (`${HOLD_FIELDS}`) filled in as the browser's code fills them."""
    sources = {p: p.read_text() for p in sorted(FRONTEND.rglob("*.ts"))}
    constant = re.compile(r"(?:export )?const (\w+) = (`[^`]*`|'[^']*')", re.S)
    exported: dict[str, str] = {}
    local: dict[Path, dict[str, str]] = {}
    for path, text in sources.items():
        local[path] = {}
        for match in constant.finditer(text):
            local[path][match.group(1)] = match.group(2)[1:-1]
            if match.group(0).startswith("export"):
                exported[match.group(1)] = match.group(2)[1:-1]
    documents: dict[str, str] = {}
    for path, text in sources.items():
        def fill(value: str) -> str:
            return re.sub(r"\$\{(\w+)\}", lambda m: fill(local[path].get(m.group(1)) or exported[m.group(1)]), value)
        literals = [*local[path].values(), *re.findall(r"gql<[^(]*\('([^']*)'", text)]
        for value in literals:
            found = re.match(r"\s*(query|mutation) (\w+)", value)
            if found:
                documents[found.group(2)] = fill(value).strip()
    return documents


FRONTEND_DOCUMENTS = frontend_documents()
