"""GET /graphql in a browser: GraphiQL from boxoffice's own files (no CDN, no inline script).
The browser test (frontend-sample/e2e, test 8) runs a query in it with the internet cut off."""

from __future__ import annotations

import re

from boxoffice.graphiql_page import GRAPHIQL_DIST

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_the_graphiql_page_loads_only_same_origin_files(api) -> None:
    page = await api.client.get("/graphql", headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    if not (GRAPHIQL_DIST / "index.html").exists():  # a checkout without `make frontend`: says how to build it
        assert "make frontend" in page.text
        return
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/graphiql/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert all(url.startswith("/graphiql/") for url in assets), assets
    for url in assets:
        asset = await api.client.get(url)
        assert asset.status_code == 200 and asset.headers["content-type"].split(";")[0] in (
            "text/javascript", "application/javascript", "text/css"), (url, asset.headers)
