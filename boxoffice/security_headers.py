"""Security headers on every response: a Content-Security-Policy per kind of page, no sniffing,
no referrer across origins, and no framing (clickjacking).

The fan app (frontend-sample's build at /) runs only its own bundled scripts: no inline script,
no eval, no third party. Its seat map sizes itself with a `style` attribute, hence
`style-src-attr 'unsafe-inline'` (attributes cannot run script; `<style>` elements stay refused).
Its tickets open from blob: URLs, and it talks only to its own origin (fetch, and the
WebSocket, which CSP 3's 'self' covers).

GraphiQL (the HTML of GET /graphql and its assets under /graphiql/) is a React app whose editor
sets inline styles and may run a worker from a blob: URL; its scripts are same-origin
(boxoffice/graphiql_page.py). The Stripe simulator's 3-D Secure page (a stand-in for the bank's
page, another origin in real life) has inline styles and posts a form that redirects back to the
app's return URL.

Headers are built once; a response that sets its own value for one of them keeps it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
           "img-src 'self' data: blob:; font-src 'self'; connect-src 'self' blob:; object-src 'none'; "
           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
GRAPHIQL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SIMULATOR_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

_COMMON = ((b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"strict-origin-when-cross-origin"),
           (b"x-frame-options", b"DENY"))


def _headers(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    return ((b"content-security-policy", csp.encode()), *_COMMON)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, graphiql_prefix: str = "/graphiql/", simulator_prefix: str = "/stripe-sim/") -> None:
        self.app = app
        self.graphiql_prefix = graphiql_prefix
        self.simulator_prefix = simulator_prefix
        self.app_headers = _headers(APP_CSP)
        self.graphiql_headers = _headers(GRAPHIQL_CSP)
        self.simulator_headers = _headers(SIMULATOR_CSP)
        self.names = frozenset(name for name, _ in self.app_headers)

    def _for(self, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
        if path == "/graphql":
            for name, value in headers:  # the GraphiQL page; the API's JSON answers get the strict policy
                if name == b"content-type":
                    return self.graphiql_headers if value.startswith(b"text/html") else self.app_headers
            return self.app_headers
        if path.startswith(self.graphiql_prefix):
            return self.graphiql_headers
        if path.startswith(self.simulator_prefix):
            return self.simulator_headers
        return self.app_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))  # a copy: shared answers reuse theirs
                extra = self._for(path, headers)
                present = {name.lower() for name, _ in headers if name.lower() in self.names}
                headers.extend(extra if not present else [h for h in extra if h[0] not in present])
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
