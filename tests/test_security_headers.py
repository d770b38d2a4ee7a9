"""Every response carries the security headers; production keeps introspection and hides GraphiQL.

Over real HTTP: the `api` server for the headers, `boxoffice serve` processes with
BOXOFFICE_ENV=production for the production defaults.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxoffice.security_headers import APP_CSP, GRAPHIQL_CSP
from live_support import ServerProcess

HTML = {"accept": "text/html"}


def assert_secured(response: httpx.Response, csp: str = APP_CSP) -> None:
    headers = response.headers
    assert headers.get("content-security-policy") == csp, (response.request.url, dict(headers))
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "strict-origin-when-cross-origin"
    assert headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in csp


def test_the_app_policy_allows_no_inline_or_foreign_script() -> None:
    directives = dict(d.strip().split(" ", 1) for d in APP_CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["style-src"]
    assert "'unsafe-inline'" not in dict(d.strip().split(" ", 1) for d in GRAPHIQL_CSP.split(";"))["script-src"]


async def test_security_headers_on_every_kind_of_response(api) -> None:
    client = api.client
    query = {"query": "{ serverTime }"}
    responses = {
        "the fan app": await client.get("/"),
        "an API answer": await client.post("/graphql", json=query),
        "a shared answer": await client.post("/graphql", json=query),
        "a GET query": await client.get("/graphql", params={"query": "{ serverTime }"}),
        "a refused body": await client.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
        "a body too large": await client.post("/graphql", content=b"x" * 1_100_000),
        "health": await client.get("/healthz"),
        "a 404": await client.get(f"/no/such/{uuid.uuid4().hex}"),
        "a 405": await client.put("/graphql", json=query),
    }
    assert responses["an API answer"].status_code == 200
    assert responses["a body too large"].status_code == 413
    assert responses["health"].status_code == 200
    assert responses["a 404"].status_code == 404
    for what, response in responses.items():
        try:
            assert_secured(response)
        except AssertionError as err:
            raise AssertionError(f"{what}: {err}") from None
    graphiql = await client.get("/graphql", headers=HTML)  # development: GraphiQL on
    assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    assert_secured(graphiql, GRAPHIQL_CSP)


@pytest.fixture(scope="module")
def production(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """BOXOFFICE_ENV=production as an operator would run it (with a Stripe key: production requires
    one; nothing here pays)."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(database_url, None, "prod-" + uuid.uuid4().hex,
                               Path(tmp_path_factory.mktemp("prod")),
                               extra_env={"BOXOFFICE_ENV": "production", "STRIPE_API_KEY": "sk_test_unused",
                                          "STRIPE_WEBHOOK_SECRET": "whsec_unused",
                                          "STRIPE_API_BASE": "http://127.0.0.1:9", **env})
        servers.append(server)
        server.start()
        return server

    try:
        yield start  # type: ignore[misc]
    finally:
        for server in servers:
            server.stop()


async def test_production_hides_graphiql_and_keeps_introspection_for_partners(production) -> None:
    server = production()
    async with httpx.AsyncClient(base_url=server.url) as client:
        page = await client.get("/graphql", headers=HTML)
        assert page.status_code == 404, page.text[:300]
        assert "graphiql" not in page.text.lower()
        assert_secured(page)
        assert (await client.get("/graphiql/index.html")).status_code == 404  # nor its files
        schema = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
        assert schema.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}, schema.text
        assert_secured(schema)
        assert (await client.get("/graphql", params={"query": "{ serverTime }"})).status_code == 200


async def test_introspection_off_when_the_operator_says_so(production) -> None:
    server = production(BOXOFFICE_INTROSPECTION="0", BOXOFFICE_GRAPHIQL="1")
    async with httpx.AsyncClient(base_url=server.url) as client:
        refused = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
        body = refused.json()
        assert refused.status_code < 500 and body.get("data") is None, refused.text
        assert "introspection" in body["errors"][0]["message"].lower(), body
        ok = await client.post("/graphql", json={"query": "{ serverTime }"})
        assert ok.status_code == 200 and ok.json()["data"]["serverTime"], ok.text
        typename = await client.post("/graphql", json={"query": "{ __typename }"})  # not schema introspection
        assert typename.json() == {"data": {"__typename": "Query"}}, typename.text
        page = await client.get("/graphql", headers=HTML)  # asked for: GraphiQL in production too
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert_secured(page, GRAPHIQL_CSP)
