"""GraphiQL at GET /graphql with every asset served by boxoffice itself (no CDN: it works offline).

strawberry's own page loads React and GraphiQL from unpkg and runs an inline script; ours is built from
npm with the frontend (frontend-sample/graphiql -> frontend-sample/dist-graphiql, `make frontend`) and
mounted at /graphiql/, its HTML loading only same-origin scripts.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

GRAPHIQL_DIST = Path(__file__).resolve().parent.parent / "frontend-sample" / "dist-graphiql"
GRAPHIQL_PATH = "/graphiql"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>boxoffice GraphiQL</title></head>
<body><h1>GraphiQL is not built</h1>
<p>Build it with <code>make frontend</code> (needs Node 20 or newer), then reload this page.
The API answers <code>POST /graphql</code> meanwhile.</p></body></html>
"""


def graphiql_page() -> HTMLResponse:
    """The page for a browser's GET /graphql; read on each request, so a rebuild needs no restart."""
    try:
        return HTMLResponse((GRAPHIQL_DIST / "index.html").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return HTMLResponse(NOT_BUILT)


def graphiql_assets() -> Mount:
    """The page's scripts and styles (vite.graphiql.config.ts builds them for this path)."""
    return Mount(GRAPHIQL_PATH, StaticFiles(directory=GRAPHIQL_DIST, check_dir=False), name="graphiql")
