"""A stand-in for the bank's 3-D Secure challenge page.

The customer lands here from next_action.redirect_to_url.url, presses Complete or
Fail, and is sent back to the return_url with Stripe's query parameters. The page needs no API
key (the buyer's browser has none) but is addressed by the intent's client secret, which only
the buyer is given: an intent id alone (it shows up in logs) neither shows nor settles anything.
"""

from __future__ import annotations

import hmac
import html
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ...booking.catalog.currencies import ZERO_DECIMAL
from .objects import ApiError, IntentRecord
from .operations import PaymentOperations
from .store import SimulatorStore

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem;margin-right:.6rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def _amount(amount: int, currency: str) -> str:
    """An intent's amount (in the currency's smallest unit, as Stripe counts it) for people:
    5000 JPY is "5,000 JPY" (zero-decimal: whole yen), 5050 EUR is "50.50 EUR"."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return f"{amount:,} {code}"
    return f"{amount / 100:,.2f} {code}"


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class AuthenticationPages:
    def __init__(self, store: SimulatorStore, operations: PaymentOperations) -> None:
        self._store = store
        self._ops = operations

    def routes(self) -> list[Route]:
        return [
            Route("/3ds/{secret}", self.challenge, methods=["GET"]),
            Route("/3ds/{secret}/complete", self.complete, methods=["POST"]),
            Route("/3ds/{secret}/fail", self.fail, methods=["POST"]),
        ]

    async def _intent(self, request: Request) -> IntentRecord | None:
        """The intent whose client secret is in the path; None for a wrong or unknown one."""
        secret = request.path_params["secret"]
        async with self._store.connection() as conn:
            intent = await self._store.load_intent(conn, secret.split("_secret_", 1)[0])
        if intent is None or not hmac.compare_digest(intent.client_secret.encode(), secret.encode()):
            return None
        return intent

    async def challenge(self, request: Request) -> Response:
        intent = await self._intent(request)
        if intent is None:
            return _page("Unknown payment", "<p>No such payment.</p>", 404)
        amount = _amount(intent.amount, intent.currency)
        if intent.status != "requires_action":
            return _page("Nothing to authenticate",
                         f"<p>Payment {html.escape(intent.id)} is {html.escape(intent.status)}.</p>",
                         409)
        # Relative actions: correct wherever the simulator is mounted.
        quoted = html.escape(intent.id)
        path = html.escape(request.path_params["secret"])
        body = (f"<p>Test-mode 3-D Secure for payment <code>{quoted}</code> "
                f"of <strong>{html.escape(amount)}</strong>.</p>"
                f'<form method="post" action="{path}/complete" style="display:inline">'
                f'<button type="submit" id="complete">Complete authentication</button></form>'
                f'<form method="post" action="{path}/fail" style="display:inline">'
                f'<button type="submit" id="fail">Fail authentication</button></form>')
        return _page("Authenticate payment", body)

    async def complete(self, request: Request) -> Response:
        return await self._finish(request, approved=True)

    async def fail(self, request: Request) -> Response:
        return await self._finish(request, approved=False)

    async def _finish(self, request: Request, *, approved: bool) -> Response:
        found = await self._intent(request)
        if found is None:
            return _page("Unknown payment", "<p>No such payment.</p>", 404)
        try:
            async with self._store.transaction() as conn:
                intent: IntentRecord = await self._ops.finish_authentication(
                    conn, found.id, approved=approved)
        except ApiError as error:
            message = html.escape(str(error.error.get("message", "")))
            return _page("Cannot authenticate", f"<p>{message}</p>", error.status)
        outcome = "succeeded" if approved else "failed"
        if intent.return_url:
            return RedirectResponse(_with_query(intent.return_url, {
                "payment_intent": intent.id,
                "payment_intent_client_secret": intent.client_secret,
                "redirect_status": outcome}), status_code=303)
        return _page("Done", f"<p>Authentication {outcome} for payment "
                             f"<code>{html.escape(intent.id)}</code>. You can close this page.</p>")
