"""Plain HTTP routes beside GraphQL: health, metrics, Stripe webhooks, ticket PDFs, sales exports."""

from __future__ import annotations

import asyncio
import logging
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .booking.checkout.reconcile import handle_stripe_event
from .booking.checkout.ticket_pdf import render_ticket_pdf
from .booking.checkout.tickets import ticket_document
from .booking.door.sales_csv import sales_export
from .booking.errors import BookingError
from .payments.gateway import InvalidWebhook, PaymentError
from .services import Services


log = logging.getLogger("boxoffice.http")
MAX_WEBHOOK_BYTES = 256_000


def _services(request: Request) -> Services:
    return request.state.services  # type: ignore[no-any-return]


async def healthz(request: Request) -> Response:
    try:
        async with asyncio.timeout(2):
            async with _services(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down"}, 503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def stripe_webhook(request: Request) -> Response:
    services = _services(request)
    payload = await request.body()
    if len(payload) > MAX_WEBHOOK_BYTES:
        return JSONResponse({"error": "payload too large"}, 413)
    try:
        event = services.payments.gateway.verify_webhook(payload, request.headers.get("stripe-signature", ""))
    except InvalidWebhook as refused:  # a bad signature, or an event not shaped as Stripe's are
        services.metrics.webhooks_refused.inc()
        services.metrics.webhooks_refused_here += 1
        if services.metrics.webhooks_refused_here in (1, 100, 10_000):  # not one line per junk post
            log.warning("Stripe webhook refused (%s); if every one is, STRIPE_WEBHOOK_SECRET is not the "
                        "endpoint's signing secret (see boxoffice_webhooks_refused_total)", refused)
        return JSONResponse({"error": str(refused)}, 400)
    try:
        changes = await handle_stripe_event(services.engine, services.payments, event)
    except PaymentError:
        # Stripe could not be asked about the intent right now: a non-2xx makes Stripe retry.
        return JSONResponse({"error": "try again"}, 503)
    await services.live.publish(changes)
    return JSONResponse({"received": True})


async def ticket_pdf(request: Request) -> Response:
    services = _services(request)
    session = await services.sessions.of_authorization(request.headers.get("authorization"))
    viewer = session.viewer if session is not None else None
    if viewer is None:
        return JSONResponse({"error": "sign in to download tickets"}, 401, headers={"WWW-Authenticate": "Bearer"})
    try:
        ticket_id = uuid.UUID(request.path_params["ticket_id"])
    except ValueError:
        return JSONResponse({"error": "no such ticket"}, 404)
    doc = await ticket_document(services.engine, ticket_id, viewer.user_id)
    if doc is None:  # someone else's ticket looks exactly like a missing one
        return JSONResponse({"error": "no such ticket"}, 404)
    pdf = await asyncio.to_thread(render_ticket_pdf, doc)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="ticket-{ticket_id}.pdf"',
                             "Cache-Control": "private, no-store"})


_STATUS_OF = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404}


async def sales_csv(request: Request) -> Response:
    """GET /reports/shows/{show_id}/sales.csv: the show's organizer (or an admin), bearer token."""
    services = _services(request)
    session = await services.sessions.of_authorization(request.headers.get("authorization"))
    try:
        show_id = uuid.UUID(request.path_params["show_id"])
    except ValueError:
        return JSONResponse({"error": "no such show"}, 404)
    try:
        # A report may be a second late: from the read replica while it keeps up (boxoffice/replica.py).
        reports = services.engine if services.reads is None else services.reads.engine
        rows = await sales_export(reports, session.viewer if session is not None else None, show_id)
    except BookingError as err:
        status = _STATUS_OF.get(err.code, 400)
        return JSONResponse({"error": err.message}, status,
                            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="sales-{show_id}.csv"',
                                      "Cache-Control": "private, no-store"})
