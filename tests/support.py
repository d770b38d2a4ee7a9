"""Test helpers: a GraphQL client over the real app and factories for users, venues and shows."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import text

from boxoffice.booking.accounts.sign_in import create_user
from boxoffice.payments.simulator import simulator_api_key

ORG_PASSWORD = "organizer-password"
FAN_PASSWORD = "fan-password-1"


async def wait_until(condition, what: str, timeout: float = 20, every: float = 0.05):  # type: ignore[no-untyped-def]
    """Awaits condition() until it returns something true; its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def wait_for_a_lock_wait(engine: Any, what: str) -> None:
    """Until a statement of this database waits on a lock (a row's or an advisory one)."""
    async def waiting() -> bool:
        async with engine.connect() as conn:
            return bool((await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"))).scalar())

    await wait_until(waiting, what)


class GraphQLFailed(AssertionError):
    pass


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Any
    port: int = 0

    @property
    def sim_auth(self) -> dict[str, str]:
        """The mounted Stripe simulator's API key, as the server's own gateway sends it."""
        return {"Authorization": f"Bearer {simulator_api_key(self.services.settings.secret)}"}

    async def post(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers=headers)
        assert response.status_code in (200, 400), response.text
        return response.json()

    async def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        body = await self.post(query, variables, token)
        if body.get("errors"):
            raise GraphQLFailed(body["errors"])
        return body["data"]

    async def user(self, role: str = "fan") -> tuple[str, str]:
        """A new user of that role: (token, user id)."""
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.test"
        password = ORG_PASSWORD if role != "fan" else FAN_PASSWORD
        record = await create_user(self.services.engine, email=email, password=password, name=role.title(), role=role)
        return self.services.tokens.issue(record), str(record.id)

    async def venue(self, token: str, *, rows: int = 2, seats: int = 5, ga: int = 10, sections: int = 1) -> dict:
        data = await self.gql(CREATE_VENUE, {"input": {
            "name": f"Venue {uuid.uuid4().hex[:6]}", "city": "Lisbon",
            "sections": [*({"name": f"S{i}", "rows": [{"label": chr(65 + r) if r < 26 else f"R{r}", "seatCount": seats,
                                                       "accessibleSeats": [1], "obstructedSeats": [seats]}
                                                      for r in range(rows)]} for i in range(sections)),
                         *([{"name": "GA", "generalAdmissionCapacity": ga}] if ga else [])]}}, token)
        assert data["createVenue"]["__typename"] == "Venue", data
        return data["createVenue"]

    async def show(self, token: str, *, rows: int = 2, seats: int = 5, ga: int = 10, sections: int = 1,
                   publish: bool = True, hold_ttl: int | None = None, max_tickets: int | None = None,
                   on_sale_at: datetime | None = None, performer: str = "Band", name: str = "Gig",
                   category: str = "concert", days: int = 10) -> dict:
        """A show with every section priced (S* at 5000, GA at 2000)."""
        venue = await self.venue(token, rows=rows, seats=seats, ga=ga, sections=sections)
        event = (await self.gql(CREATE_EVENT, {"input": {"name": name, "performer": performer,
                                                         "category": category, "venueId": venue["id"]}},
                                token))["createEvent"]
        tiers = [{"name": "Seats", "priceCents": 5000, "sections": [f"S{i}" for i in range(sections)]}]
        if ga:
            tiers.append({"name": "Floor", "priceCents": 2000, "sections": ["GA"]})
        show_input: dict[str, Any] = {
            "eventId": event["id"], "currency": "EUR", "priceTiers": tiers,
            "startsAt": (datetime.now(timezone.utc) + timedelta(days=days)).isoformat(),
            "onSaleAt": (on_sale_at or datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}
        if hold_ttl is not None:
            show_input["holdTtlSeconds"] = hold_ttl
        if max_tickets is not None:
            show_input["maxTicketsPerUser"] = max_tickets
        show = (await self.gql(CREATE_SHOW, {"input": show_input}, token))["createShow"]
        assert show["__typename"] == "Show", show
        if publish:
            published = await self.gql(PUBLISH, {"id": event["id"]}, token)
            assert published["publishEvent"]["status"] == "PUBLISHED"
        sections_info = (await self.gql("query($id: ID!) { show(id: $id) { availability { sections { sectionId "
                                        "name generalAdmission capacity } } } }",
                                        {"id": show["id"]}, token))["show"]["availability"]["sections"]
        ga_section = next((s["sectionId"] for s in sections_info if s["generalAdmission"]), None)
        reserved = [s for s in sections_info if not s["generalAdmission"]]
        # A request lists at most BOXOFFICE_MAX_SEATS_PER_REQUEST seats: a big venue is read by section.
        whole = sum(s["capacity"] for s in reserved) <= self.services.settings.max_seats_per_request
        seat_ids: list[str] = []
        for section in [None] if whole else [s["sectionId"] for s in reserved]:
            listed = await self.gql("query($id: ID!, $section: ID) { show(id: $id) { seats(sectionId: $section) "
                                    "{ id } } }", {"id": show["id"], "section": section}, token)
            seat_ids += [s["id"] for s in listed["show"]["seats"]]
        return {"id": show["id"], "eventId": event["id"], "venueId": venue["id"],
                "seats": seat_ids, "gaSectionId": ga_section}

    async def hold(self, token: str, show_id: str, seat_ids: list[str] | None = None,
                   ga: list[tuple[str, int]] | None = None, key: str | None = None) -> dict:
        data = await self.gql(HOLD, {"input": {
            "showId": show_id, "seatIds": seat_ids, "idempotencyKey": key or uuid.uuid4().hex,
            "generalAdmission": [{"sectionId": s, "quantity": q} for s, q in ga or []]}}, token)
        return data["holdSeats"]


CREATE_VENUE = """mutation($input: VenueInput!) { createVenue(input: $input) {
  __typename ... on Venue { id name city capacity sections { id name generalAdmission capacity } }
  ... on Rejected { code message field } } }"""
CREATE_EVENT = """mutation($input: EventInput!) { createEvent(input: $input) {
  __typename ... on Event { id name status } ... on Rejected { code message field } } }"""
CREATE_SHOW = """mutation($input: ShowInput!) { createShow(input: $input) {
  __typename ... on Show { id holdTtlSeconds maxTicketsPerUser currency } ... on Rejected { code message field } } }"""
PUBLISH = """mutation($id: ID!) { publishEvent(eventId: $id) {
  __typename ... on Event { id status } ... on Rejected { code message } } }"""
HOLD_FIELDS = """__typename
  ... on Hold { id status expiresAt totalCents currency seats { id status } generalAdmission { sectionId quantity priceCents } }
  ... on SeatsUnavailable { code message seatIds }
  ... on Rejected { code message field }"""
HOLD = f"mutation($input: HoldSeatsInput!) {{ holdSeats(input: $input) {{ {HOLD_FIELDS} }} }}"
RELEASE = f"mutation($id: ID!) {{ releaseHold(holdId: $id) {{ {HOLD_FIELDS} }} }}"
