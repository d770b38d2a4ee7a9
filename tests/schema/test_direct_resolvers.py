"""Fields resolved without strawberry's per-call wrapper (schema/direct_resolvers.py), plain leaf
fields read by the executor itself (schema/leaf_reads.py) and sub-field collections shared between
executions (schema/collection_memo.py) answer exactly what strawberry and graphql-core answer alone:
every document of the frontend sample, signed in and not, arguments, fragments, aliases, errors and
Problems, on the product's schema and on one with all three off."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter

from boxoffice.resolvers.context import Context
from boxoffice.schema.build import build_schema
from boxoffice.schema.direct_resolvers import install_direct_resolvers
from frontend_documents import FRONTEND_DOCUMENTS
from support import Api

ORDER_INPUT = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { __typename ... on Order { id } } }"
MORE = {
    "aliases, fragments, nested lists": """
        query($id: ID!) { a: show(id: $id) { ...S b: id } show(id: $id) { priceTiers { name priceCents } } }
        fragment S on Show { id startsAt event { name venue { name sections { id name rows { label } } } } }""",
    "an argument given inline and an unknown id": """
        { show(id: "00000000-0000-0000-0000-000000000000") { id } order(id: "nope") { id } }""",
    "a field error (bad id)": '{ hold(id: "not-a-uuid") { id } }',
}


def _direct_fields(schema: Any) -> set[str]:
    return {f"{t.name}.{n}" for t in schema._schema.type_map.values()
            if isinstance(t, GraphQLObjectType) and not t.name.startswith("__") for n, f in t.fields.items()
            if getattr(f.resolve, "__qualname__", "").startswith("_direct.")}


def test_installed_where_the_wrapper_adds_nothing() -> None:
    assert not _direct_fields(build_schema(direct_resolvers=False))
    schema = build_schema()
    direct = _direct_fields(schema)
    assert {"Hold.id", "Hold.status", "Hold.generalAdmission", "Query.order", "Mutation.holdSeats"} <= direct
    assert not any(name.startswith("Subscription.") for name in direct)  # their resolvers stay strawberry's
    plain = build_schema(direct_resolvers=False)
    assert install_direct_resolvers(plain) == len(direct)
    for graphql_type in schema._schema.type_map.values():  # plain attributes keep strawberry's bare resolver
        for field in graphql_type.fields.values() if isinstance(graphql_type, GraphQLObjectType) else ():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if getattr(definition, "base_resolver", True) is None and field.resolve is not None:
                assert getattr(field.resolve, "_is_default", False)


async def _answer(schema: Any, api: Api, token: str | None, document: str, variables: dict[str, Any]) -> str:
    context = Context(services=api.services)
    if token is not None:
        context.session = await api.services.sessions.of_token(token)
        context.viewer = context.session.viewer if context.session else None
    result = await schema.execute(document, variables, context_value=context)
    errors = [e.formatted for e in result.errors or []]
    return json.dumps({"data": result.data, "errors": errors})  # key order included


_VARYING = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'  # ids
                      r'|\d{4}-\d\d-\d\dT[\d:.]+(?:\+00:00)?|"version": \d+')  # times, a seat's version


async def _both(plain: Any, direct: Any, api: Api, token: str | None, document: str,
                variables: dict[str, Any]) -> tuple[str, str]:
    """Each schema's answer, taken while nothing the document reads changes (a hold made just before
    reaches the per-process seat map a few milliseconds later)."""
    for _ in range(100):
        before = await _answer(plain, api, token, document, variables)
        got = await _answer(direct, api, token, document, variables)
        if await _answer(plain, api, token, document, variables) == before:
            return before, got
        await asyncio.sleep(0.02)
    raise AssertionError(f"the answer kept changing: {document}")


async def test_the_same_answers_as_strawberrys_wrapper(api: Api) -> None:
    plain, direct = build_schema(direct_resolvers=False, leaf_reads=False, collection_memo=False), build_schema()
    organizer, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(organizer, max_tickets=8)
    seats = show["seats"]
    held = await api.hold(fan, show["id"], seats[:2])
    order = (await api.gql(ORDER_INPUT, {"input": {"holdId": held["id"], "idempotencyKey": uuid.uuid4().hex}},
                           fan))["createOrder"]
    docs = FRONTEND_DOCUMENTS
    reads = [("Show", {"id": show["id"]}), ("ShowSeats", {"id": show["id"], "sectionId": None}),
             ("Event", {"id": show["eventId"]}), ("QueueShow", {"id": show["id"]}),
             ("Events", {"filter": {}, "first": 20, "after": None}), ("Viewer", {}),
             ("Account", {"first": 10, "after": None, "withNotifications": True}),
             ("Hold", {"id": held["id"]}), ("CheckoutHold", {"id": held["id"]}), ("Order", {"id": order["id"]}),
             ("WaitingRoomTicket", {"id": str(uuid.uuid4())})]
    cases = [(docs[name], variables) for name, variables in reads]
    cases += [(document, {"id": show["id"]}) for document in MORE.values()]
    for token in (None, fan, organizer):
        for document, variables in cases:
            expected, got = await _both(plain, direct, api, token, document, variables)
            assert got == expected, (document, token)
    # Mutations: Problems, and the same change made through each schema in turn.
    refused = [(docs["ReleaseHold"], {"holdId": str(uuid.uuid4())}),
               (docs["CreateOrder"], {"input": {"holdId": "x", "idempotencyKey": "k"}}),
               (docs["HoldSeats"], {"input": {"showId": show["id"], "seatIds": seats[:1],
                                              "idempotencyKey": uuid.uuid4().hex}})]  # someone else's seats
    for document, variables in refused:
        expected = await _answer(plain, api, fan, document, variables)
        assert await _answer(direct, api, fan, document, variables) == expected, document
    answers = []
    for schema in (plain, direct):
        hold = {"input": {"showId": show["id"], "seatIds": [seats[2]], "idempotencyKey": uuid.uuid4().hex}}
        made = await _answer(schema, api, fan, docs["HoldSeats"], hold)
        hold_id = json.loads(made)["data"]["holdSeats"]["id"]
        released = await _answer(schema, api, fan, docs["ReleaseHold"], {"holdId": hold_id})
        answers.append(_VARYING.sub("*", made + released))
    assert answers[0] == answers[1]
    assert '"status": "RELEASED"' in answers[1]
