"""The sales report against the rows: after a random mix of sales, refunds, check-ins and open
holds, every figure equals both what the test did and a plain count of the database's rows."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter

from sqlalchemy import text

from boxoffice.booking.audit import audit
from boxoffice.booking.door import sales_csv as sales_csv_module
from boxoffice.booking.door.sales_report import sales_report, sales_timeline
from boxoffice.booking.refunds.pay_back import pay_back_order
from support import wait_until

from ..after_sale.journeys import HOLD_LISTING, LIST, pay_hold
from ..after_sale.journeys import buy as buy_show
from .buying import CHECK_IN, buy, refund_in_database

REPORT_Q = """query($id: ID!) { show(id: $id) { salesReport { currency capacity sold held available checkedIn
  grossCents refundedCents bySection { sectionId name capacity sold checkedIn grossCents }
  timeline(bucketSeconds: 60) { start orders tickets grossCents } } } }"""


async def test_report_matches_a_random_mix_of_sales_refunds_and_check_ins(api, monkeypatch) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=2, seats=6, ga=12, sections=2)
    seats = list(show["seats"])
    rng.shuffle(seats)
    section_of = {}
    for s in (await api.gql("query($id: ID!) { show(id: $id) { seats { id sectionId } } }", {"id": show["id"]},
                            org))["show"]["seats"]:
        section_of[s["id"]] = s["sectionId"]

    # At most 8 orders of at most 2 seats and 1 place: 16 of the 24 seats and 8 of the 12 places,
    # so whatever the seed, 2 seats and a place are left for the open hold below.
    orders = []
    for _ in range(rng.randint(5, 8)):
        fan, _ = await api.user()
        take = [seats.pop() for _ in range(rng.randint(0, 2))]
        ga = rng.randint(0, 1) if take else 1
        order = await buy(api, fan, show["id"], take, [(show["gaSectionId"], ga)] if ga else None)
        orders.append((order, take, ga))
    held_fan, _ = await api.user()
    held_seats = [seats.pop() for _ in range(2)]
    assert (await api.hold(held_fan, show["id"], held_seats, [(show["gaSectionId"], 1)]))["__typename"] == "Hold"

    refunded = rng.sample(orders, 2)
    for order, _, _ in refunded:
        await refund_in_database(api.services.engine, order["id"])
    kept = [o for o in orders if o not in refunded]
    live_tickets = [t for order, _, _ in kept for t in order["tickets"]]
    admitted = rng.sample(live_tickets, rng.randint(1, len(live_tickets)))
    for ticket in admitted:
        scan = (await api.gql(CHECK_IN, {"s": show["id"], "b": ticket["barcode"]}, org))["checkInTicket"]
        assert scan["__typename"] == "CheckIn", (seed, scan)
    # A refunded ticket scanned is refused, and counts nowhere.
    dead = refunded[0][0]["tickets"][0]["barcode"]
    assert (await api.gql(CHECK_IN, {"s": show["id"], "b": dead}, org))["checkInTicket"]["code"] == "TICKET_VOID"

    report = (await api.gql(REPORT_Q, {"id": show["id"]}, org))["show"]["salesReport"]
    # What the test did.
    sold_places = sum(len(take) + ga for _, take, ga in kept)
    assert report["capacity"] == 2 * 2 * 6 + 12, seed
    assert report["sold"] == sold_places, seed
    assert report["held"] == 3, seed
    assert report["available"] == report["capacity"] - sold_places - 3, seed
    assert report["checkedIn"] == len(admitted), seed
    assert report["grossCents"] == sum(o["totalCents"] for o, _, _ in orders), seed
    assert report["refundedCents"] == sum(o["totalCents"] for o, _, _ in refunded), seed
    assert report["currency"] == "EUR"
    by_section = {s["sectionId"]: s for s in report["bySection"]}
    expected_sold = Counter(section_of[s] for _, take, _ in kept for s in take)
    expected_sold[show["gaSectionId"]] += sum(ga for _, _, ga in kept)
    assert {k: v["sold"] for k, v in by_section.items() if v["sold"]} == {k: v for k, v in expected_sold.items() if v}
    assert sum(s["grossCents"] for s in report["bySection"]) == report["grossCents"], seed
    assert sum(s["checkedIn"] for s in report["bySection"]) == len(admitted)
    assert sum(b["orders"] for b in report["timeline"]) == len(orders), seed
    assert sum(b["tickets"] for b in report["timeline"]) == sum(len(t) + g for _, t, g in orders)

    # A plain count of the rows says the same.
    async with api.services.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT count(*) AS capacity, count(*) FILTER (WHERE status = 'S') AS sold, "
            "count(*) FILTER (WHERE status = 'H' AND hold_expires_at > now()) AS held, "
            "(SELECT count(*) FROM tickets WHERE show_id = :s AND status = 'checked_in') AS checked_in, "
            "(SELECT sum(total_cents) FROM orders WHERE show_id = :s AND confirmed_at IS NOT NULL) AS gross, "
            "(SELECT coalesce(sum(total_cents), 0) FROM orders WHERE show_id = :s AND status = 'refunded') AS refunded "
            "FROM show_seats WHERE show_id = :s"), {"s": show["id"]})).one()
    assert (report["capacity"], report["sold"], report["held"], report["checkedIn"], report["grossCents"],
            report["refundedCents"]) == tuple(rows), seed

    # The export has one row per place of every order ever confirmed, across pages (two orders a page here).
    monkeypatch.setattr(sales_csv_module, "PAGE_ORDERS", 2)
    csv_text = (await api.client.get(f"/reports/shows/{show['id']}/sales.csv",
                                     headers={"Authorization": f"Bearer {org}"})).text
    lines = list(csv.reader(io.StringIO(csv_text)))[1:]
    assert [r[0] for r in lines] == sorted((r[0] for r in lines), key=[o["id"] for o, _, _ in orders].index)
    assert len(lines) == sum(len(t) + g for _, t, g in orders)
    assert Counter(r[8] for r in lines) == Counter({"checked_in": len(admitted), "void": sum(
        len(t) + g for _, t, g in refunded), "valid": sold_places - len(admitted)})
    checked = await audit(api.services.engine, uuid.UUID(show["id"]))
    assert checked.clean, checked.failures


async def test_an_empty_show_and_the_domain_calls(api) -> None:
    org, _ = await api.user("organizer")
    show = await api.show(org, ga=0)
    record = await sales_report(api.services.engine, uuid.UUID(show["id"]), "EUR")
    assert (record.capacity, record.sold, record.available, record.gross_cents) == (10, 0, 10, 0)
    assert await sales_timeline(api.services.engine, uuid.UUID(show["id"]), 3600) == []


async def test_a_stadiums_takings_past_int_are_read_whole(api) -> None:
    """A sold-out stadium takes more than Int's 2,147,483,647 cents: grossTotalCents and
    refundedTotalCents carry them whole (BigInt); the Int fields, deprecated, refuse with an error."""
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=2, ga=0, sections=1)
    orders = [await buy(api, (await api.user())[0], show["id"], [seat]) for seat in show["seats"]]
    # Two places at 1,500,000,000 cents each stand in for 50,000 at $600 (prices are bounded per order),
    # put back after: other tests audit the whole database.
    price = orders[0]["totalCents"]
    await _reprice(api, show["id"], 1_500_000_000)
    try:
        await refund_in_database(api.services.engine, orders[0]["id"])
        await _read_whole(api, show, org)
    finally:
        await _reprice(api, show["id"], price)
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def _reprice(api, show_id: str, cents: int) -> None:
    async with api.services.engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET total_cents = :c WHERE show_id = :s"), {"s": show_id, "c": cents})
        await conn.execute(text("UPDATE show_seats SET price_cents = :c WHERE show_id = :s"), {"s": show_id, "c": cents})


async def _read_whole(api, show: dict, org: str) -> None:
    whole = """query($id: ID!) { show(id: $id) { salesReport { grossTotalCents refundedTotalCents
      bySection { grossTotalCents } timeline { grossTotalCents } } } }"""
    report = (await api.gql(whole, {"id": show["id"]}, org))["show"]["salesReport"]
    assert report == {"grossTotalCents": "3000000000", "refundedTotalCents": "1500000000",
                      "bySection": [{"grossTotalCents": "3000000000"}], "timeline": [{"grossTotalCents": "3000000000"}]}
    old = await api.post(REPORT_Q, {"id": show["id"]}, org)
    assert old["data"] == {"show": {"salesReport": None}}
    assert "Int cannot represent non 32-bit signed integer value: 3000000000" in old["errors"][0]["message"], old


async def test_a_resale_below_face_value_counts_what_was_charged_and_paid_back(api) -> None:
    """A seat bought at face value, resold for less: the box office charged face + resale price and paid
    the resale price back to the seller. The section, the CSV and a later whole refund agree."""
    org, _ = await api.user("organizer")
    seller, _ = await api.user()
    buyer, _ = await api.user()
    show = await api.show(org, rows=1, seats=2, ga=0)
    sold = await buy_show(api, seller, show, seats=show["seats"][:2])
    face = sold["totalCents"] // 2
    listed = (await api.gql(LIST, {"t": sold["tickets"][0]["id"], "p": face // 2}, seller))["listForResale"]
    hold = (await api.gql(HOLD_LISTING, {"l": listed["id"], "k": uuid.uuid4().hex}, buyer))["holdResaleListing"]
    resold = await pay_hold(api, buyer, hold["id"])
    assert resold["totalCents"] == face // 2

    figures = "query($id: ID!) { show(id: $id) { salesReport { grossTotalCents refundedTotalCents bySection { grossTotalCents } } } }"
    report = (await api.gql(figures, {"id": show["id"]}, org))["show"]["salesReport"]
    assert report["grossTotalCents"] == str(2 * face + face // 2)
    assert report["refundedTotalCents"] == str(face // 2)  # the seller's money back for the resold seat
    assert sum(int(s["grossTotalCents"]) for s in report["bySection"]) == 2 * face + face // 2
    csv_text = (await api.client.get(f"/reports/shows/{show['id']}/sales.csv",
                                     headers={"Authorization": f"Bearer {org}"})).text
    prices = sorted(float(r[5]) * 100 for r in list(csv.reader(io.StringIO(csv_text)))[1:])
    assert prices == sorted([face, face, face // 2])  # the resale's row at its price

    # The organizer refunds the seller's order: what is left of its charge is owed, the resale's is not.
    refunded = (await api.gql("""mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
      ... on Order { status } } }""", {"o": sold["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert refunded["status"] == "REFUNDED"
    async with api.services.engine.connect() as conn:
        owed = (await conn.execute(text("SELECT amount_cents FROM order_refunds WHERE order_id = :o"),
                                   {"o": sold["id"]})).scalar_one()
    assert owed == 2 * face - face // 2
    report = (await api.gql(figures, {"id": show["id"]}, org))["show"]["salesReport"]
    assert report["refundedTotalCents"] == str(2 * face)  # all the seller paid, and nothing of the buyer's


async def test_a_refund_counts_as_refunded_once_stripe_has_made_it(api) -> None:
    """The organizer refunds while Stripe is down: the order is refunded and the money owed, but not
    back yet, so refundedTotalCents (a cancellation's progress) does not count it until it is."""
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=2, ga=0)
    sold = await buy_show(api, (await api.user())[0], show, seats=show["seats"][:1])
    figures = "query($id: ID!) { show(id: $id) { salesReport { grossTotalCents refundedTotalCents } } }"
    refund = """mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) {
      ... on Order { status } } }"""
    faults = "/stripe-sim/_faults"
    assert (await api.client.post(faults, json={"fail_next": 1_000}, headers=api.sim_auth)).status_code == 200
    try:
        refunded = (await api.gql(refund, {"o": sold["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
        assert refunded["status"] == "REFUNDED"
        report = (await api.gql(figures, {"id": show["id"]}, org))["show"]["salesReport"]
        assert report == {"grossTotalCents": str(sold["totalCents"]), "refundedTotalCents": "0"}
    finally:
        await api.client.post(faults, json={}, headers=api.sim_auth)
    assert await pay_back_order(api.services.engine, api.services.payments, uuid.UUID(sold["id"]))
    report = (await api.gql(figures, {"id": show["id"]}, org))["show"]["salesReport"]
    assert report["refundedTotalCents"] == str(sold["totalCents"])
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def test_a_chargeback_counts_as_charged_back_until_the_box_office_wins_it_then_is_refunded(api) -> None:
    """Won, the money came back to the box office for tickets voided before the show: the fan paid
    for nothing, and was left so (a cancelled show's job and refundOrder skipped the order too)."""
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=2, ga=0)
    kept = await buy_show(api, (await api.user())[0], show, seats=show["seats"][:1])
    disputed = await buy_show(api, (await api.user())[0], show, seats=show["seats"][1:])
    async with api.services.engine.connect() as conn:
        intent = (await conn.execute(text("SELECT intent_id FROM payments WHERE order_id = :o"),
                                     {"o": disputed["id"]})).scalar_one()
    opened = await api.client.post("/stripe-sim/_disputes", data={"payment_intent": intent}, headers=api.sim_auth)
    assert opened.status_code == 200, opened.text
    figures = ("query($id: ID!) { show(id: $id) { salesReport { grossTotalCents refundedTotalCents "
               "chargedBackTotalCents } } }")

    async def report() -> dict:
        return dict((await api.gql(figures, {"id": show["id"]}, org))["show"]["salesReport"])

    gross = str(kept["totalCents"] + disputed["totalCents"])
    await wait_until(lambda: _charged_back(report, str(disputed["totalCents"])), "the chargeback reported")
    assert await report() == {"grossTotalCents": gross, "refundedTotalCents": "0",
                              "chargedBackTotalCents": str(disputed["totalCents"])}
    closed = await api.client.post(f"/stripe-sim/_disputes/{opened.json()['id']}/close", data={"status": "won"},
                                   headers=api.sim_auth)
    assert closed.status_code == 200, closed.text
    await wait_until(lambda: _charged_back(report, "0"), "the won dispute reported")  # the money came back
    # ...for tickets voided before the show, which the fan could not use: it is theirs again.
    await wait_until(lambda: _refunded(report, str(disputed["totalCents"])), "the fan refunded")
    assert (await report())["chargedBackTotalCents"] == "0"
    async with api.services.engine.connect() as conn:
        status = (await conn.execute(text("SELECT o.status || ' ' || p.status FROM orders o JOIN payments p "
                                          "ON p.order_id = o.id WHERE o.id = :o"), {"o": disputed["id"]})).scalar()
    assert status == "refunded refunded"
    async with api.services.engine.connect() as conn:  # the fan is told what comes back
        told = (await conn.execute(text("SELECT payload FROM outbox WHERE payload->>'kind' = 'ORDER_REFUNDED' "
                                        "AND payload->>'orderId' = :o"), {"o": disputed["id"]})).scalar_one()
    assert told["amountCents"] == disputed["totalCents"]
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def _refunded(report, cents: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await report())["refundedTotalCents"] == cents)


async def _charged_back(report, cents: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await report())["chargedBackTotalCents"] == cents)


async def test_an_organizer_demoted_to_fan_sees_no_figures_and_checks_no_one_in(api) -> None:
    """As the CSV, refunds and door staff already refused them: the report and the door did not."""
    from boxoffice.booking.accounts.sign_in import change_role

    org, org_id = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, ga=0)
    paid = await buy(api, fan, show["id"], show["seats"][:1])
    async with api.services.engine.connect() as conn:
        email = (await conn.execute(text("SELECT email FROM users WHERE id = :u"), {"u": org_id})).scalar_one()
    demoted = api.services.tokens.issue(await change_role(api.services.engine, email=email, role="fan"))
    assert (await api.gql(REPORT_Q, {"id": show["id"]}, demoted))["show"]["salesReport"] is None
    refused = (await api.gql(CHECK_IN, {"s": show["id"], "b": paid["tickets"][0]["barcode"]}, demoted))["checkInTicket"]
    assert refused["__typename"] == "Rejected" and refused["code"] == "FORBIDDEN", refused
    assert paid["tickets"][0]["status"] == "VALID"
    assert (await audit(api.services.engine, uuid.UUID(show["id"]))).clean


async def test_the_timelines_days_are_the_venues_days(api) -> None:
    """Cut at UTC midnight, an Auckland sale at 06:22 local time fell in the previous day's bucket."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org, ga=0)
    async with api.services.engine.begin() as conn:  # the test's own venue, in Auckland
        await conn.execute(text("UPDATE venues SET time_zone = 'Pacific/Auckland' WHERE id = "
                                "(SELECT venue_id FROM shows WHERE id = :s)"), {"s": show["id"]})
    await buy(api, fan, show["id"], show["seats"][:1])
    async with api.services.engine.connect() as conn:
        sold_at = (await conn.execute(text("SELECT confirmed_at FROM orders WHERE show_id = :s"),
                                      {"s": show["id"]})).scalar_one()
    zone = ZoneInfo("Pacific/Auckland")
    [day] = await sales_timeline(api.services.engine, uuid.UUID(show["id"]), 86400)
    local = day.start.astimezone(zone)
    assert (local.hour, local.minute, local.date()) == (0, 0, sold_at.astimezone(zone).date()), local
    assert day.start <= sold_at < day.start + timedelta(days=1)


async def test_a_refund_after_the_show_began_is_not_counted_sold(api) -> None:
    """Its places stay with the refunded order (the record of who sat there): they were counted sold."""
    org, _ = await api.user("organizer")
    show = await api.show(org, rows=1, seats=2, ga=0)
    kept = await buy(api, (await api.user())[0], show["id"], show["seats"][:1])
    refunded = await buy(api, (await api.user())[0], show["id"], show["seats"][1:])
    async with api.services.engine.begin() as conn:  # the test's own show: it began an hour ago
        await conn.execute(text("UPDATE shows SET starts_at = now() - interval '1 hour' WHERE id = :s"),
                           {"s": show["id"]})
    api.services.shows.clear()
    done = (await api.gql("mutation($o: ID!, $k: String!) { refundOrder(orderId: $o, idempotencyKey: $k) { "
                          "__typename ... on Order { status } ... on Rejected { code message } } }",
                          {"o": refunded["id"], "k": uuid.uuid4().hex}, org))["refundOrder"]
    assert done.get("status") == "REFUNDED", done
    report = (await api.gql(REPORT_Q, {"id": show["id"]}, org))["show"]["salesReport"]
    assert (report["capacity"], report["sold"], report["available"]) == (2, 1, 0), report
    assert kept["status"] == "CONFIRMED"
