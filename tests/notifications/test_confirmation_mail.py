"""A purchase on a real server process ends in an in-app notification and an e-mail (aiosmtpd)."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiosmtpd.controller import Controller

from boxoffice.db import create_engine
from booking.fixtures_db import make_show
from live_support import ServerProcess, fan_tokens, free_port, gql


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


async def test_purchase_notifies_in_app_and_by_mail(private_database_url, secret, tmp_path) -> None:
    # A database of its own: every server process sharing a database is one deployment, and the
    # outbox relay of any of them (the session's, without SMTP) would otherwise deliver these.
    database_url = private_database_url
    engine = create_engine(database_url, pool_size=3)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    # Redis db 2: the session cluster uses 3-15.
    server = ServerProcess(database_url, "redis://127.0.0.1:6379/2", secret, tmp_path,
                           extra_env={"SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    try:
        server.start(fresh_redis=True)
        show, seats, _ = await make_show(engine, seats=3, ga=1)
        fan, = await fan_tokens(engine, secret, 1)
        me = (await gql(server.url, "{ viewer { email } }", token=fan))["viewer"]["email"]
        hold = (await gql(server.url, """mutation($i: HoldSeatsInput!) { holdSeats(input: $i) { ... on Hold { id } } }""",
                          {"i": {"showId": str(show.id), "seatIds": seats[:1], "idempotencyKey": "k"}}, fan))["holdSeats"]
        order = (await gql(server.url, "mutation($i: CreateOrderInput!) { createOrder(input: $i) { ... on Order { id } } }",
                           {"i": {"holdId": hold["id"], "idempotencyKey": "k"}}, fan))["createOrder"]
        declined = await gql(server.url, "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { "
                                         "... on Rejected { code } } }",
                             {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa_chargeDeclined",
                                    "idempotencyKey": "k1"}}, fan)
        assert declined["confirmPayment"]["code"] == "PAYMENT_DECLINED"
        paid = await gql(server.url, "mutation($i: ConfirmPaymentInput!) { confirmPayment(input: $i) { "
                                     "... on Order { status } } }",
                         {"i": {"orderId": order["id"], "paymentMethod": "pm_card_visa", "idempotencyKey": "k2"}}, fan)
        assert paid["confirmPayment"]["status"] == "CONFIRMED"
        deadline = time.monotonic() + 15
        kinds: list[str] = []
        while time.monotonic() < deadline:
            notes = (await gql(server.url, "{ viewer { notifications { kind subject } } }", token=fan))
            kinds = sorted(n["kind"] for n in notes["viewer"]["notifications"])
            if kinds == ["ORDER_CONFIRMED", "PAYMENT_FAILED"] and len(inbox.messages) >= 2:
                break
            await asyncio.sleep(0.2)
        assert kinds == ["ORDER_CONFIRMED", "PAYMENT_FAILED"]
        confirmations = [m for to, m in inbox.messages if to == [me] and "confirmed" in m.lower()]
        assert len(confirmations) == 1, inbox.messages
        assert "Subject:" in confirmations[0]
        await asyncio.sleep(1)
        assert len([m for to, m in inbox.messages if "confirmed" in m.lower()]) == 1  # exactly once
        # Other users see none of it.
        other, = await fan_tokens(engine, secret, 1)
        assert (await gql(server.url, "{ viewer { notifications { kind } } }", token=other))["viewer"]["notifications"] == []
        assert uuid.UUID(order["id"])
    finally:
        server.stop()
        smtp.stop()
        await engine.dispose()
