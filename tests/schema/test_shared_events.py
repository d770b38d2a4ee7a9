"""One seat delta sent to many subscribers is executed and encoded once, not once each."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
import strawberry
from strawberry import Private

from boxoffice.schema.shared_events import DirectFrames, SharedData, SharedEventExecutor, encode_message


@strawberry.type
class Seat:
    id: str
    label_calls: Private[list[str]]

    @strawberry.field
    def label(self, upper: bool = False) -> str:
        self.label_calls.append(self.id)
        return self.id.upper() if upper else self.id

    @strawberry.field
    async def slow_label(self) -> str:
        self.label_calls.append(self.id)
        await asyncio.sleep(0.05)
        return self.id


@strawberry.type
class Delta:
    seats: list[Seat]
    shared_results: Private[dict[object, object]] = dataclasses.field(default_factory=dict)


@strawberry.type
class PrivateDelta:  # no shared_results: executed per subscriber as usual
    seats: list[Seat]


def build(source: list[object]) -> strawberry.Schema:
    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def deltas(self, show: str, since: int | None = None) -> AsyncIterator[Delta]:
            for item in source:
                yield item  # type: ignore[misc]

        @strawberry.subscription
        async def private_deltas(self, show: str) -> AsyncIterator[PrivateDelta]:
            for item in source:
                yield item  # type: ignore[misc]

    return strawberry.Schema(query=Query, subscription=Subscription, execution_context_class=SharedEventExecutor)


async def results(schema: strawberry.Schema, query: str, variables: dict[str, object]) -> list[object]:
    stream = await schema.subscribe(query, variable_values=variables)
    return [r async for r in stream]  # type: ignore[union-attr]


async def test_subscribers_of_one_delta_share_one_execution() -> None:
    calls: list[str] = []
    delta = Delta(seats=[Seat(id="a1", label_calls=calls), Seat(id="a2", label_calls=calls)])
    schema = build([delta])
    query = "subscription($show: String!, $since: Int) { deltas(show: $show, since: $since) { seats { label } } }"
    # Different root arguments (each client's own sinceVersion) still share the rendering.
    answers = await asyncio.gather(*(results(schema, query, {"show": "s", "since": n}) for n in range(5)))
    data = [a[0].data for a in answers]  # type: ignore[attr-defined]
    assert data[0] == {"deltas": {"seats": [{"label": "a1"}, {"label": "a2"}]}}
    assert all(d is data[0] for d in data)
    assert type(data[0]) is SharedData
    assert calls == ["a1", "a2"]  # once, not five times


async def test_variables_read_inside_the_selection_keep_results_apart() -> None:
    calls: list[str] = []
    delta = Delta(seats=[Seat(id="b1", label_calls=calls)])
    schema = build([delta])
    query = "subscription($up: Boolean!) { deltas(show: \"s\") { seats { label(upper: $up) } } }"
    up, down, up_again = await asyncio.gather(results(schema, query, {"up": True}),
                                              results(schema, query, {"up": False}),
                                              results(schema, query, {"up": True}))
    assert up[0].data == {"deltas": {"seats": [{"label": "B1"}]}}  # type: ignore[attr-defined]
    assert down[0].data == {"deltas": {"seats": [{"label": "b1"}]}}  # type: ignore[attr-defined]
    assert up_again[0].data is up[0].data  # type: ignore[attr-defined]
    assert len(calls) == 2
    # Another document (here: with an alias) is another rendering.
    other = await results(schema, 'subscription { deltas(show: "s") { seats { name: label } } }', {})
    assert other[0].data == {"deltas": {"seats": [{"name": "b1"}]}}  # type: ignore[attr-defined]
    assert len(calls) == 3


async def test_events_without_a_shared_cache_run_per_subscriber() -> None:
    calls: list[str] = []
    schema = build([PrivateDelta(seats=[Seat(id="c1", label_calls=calls)])])
    query = 'subscription { privateDeltas(show: "s") { seats { label } } }'
    first, second = await asyncio.gather(results(schema, query, {}), results(schema, query, {}))
    assert first[0].data == second[0].data  # type: ignore[attr-defined]
    assert first[0].data is not second[0].data  # type: ignore[attr-defined]
    assert calls == ["c1", "c1"]


async def test_a_subscriber_leaving_does_not_cancel_the_shared_execution() -> None:
    calls: list[str] = []
    schema = build([Delta(seats=[Seat(id="d1", label_calls=calls)])])
    query = 'subscription { deltas(show: "s") { seats { slowLabel } } }'
    leaver = asyncio.create_task(results(schema, query, {}))
    stayer = asyncio.create_task(results(schema, query, {}))
    await asyncio.sleep(0.01)
    leaver.cancel()
    answer = await stayer
    assert answer[0].data == {"deltas": {"seats": [{"slowLabel": "d1"}]}}  # type: ignore[attr-defined]
    assert calls == ["d1"]
    with pytest.raises(asyncio.CancelledError):
        await leaver


def test_each_frame_is_the_shared_bytes_with_its_own_operation_id() -> None:
    data = SharedData({"deltas": {"seats": [{"label": "é\u2028"}]}})
    frames = [encode_message({"id": op, "type": "next", "payload": {"data": data}}) for op in ("1", 'x"2')]
    assert [json.loads(f) for f in frames] == [
        {"id": op, "type": "next", "payload": {"data": {"deltas": {"seats": [{"label": "é\u2028"}]}}}}
        for op in ("1", 'x"2')]
    assert data.encoded() is data.encoded()  # encoded once
    # Anything else is encoded as it is, errors included.
    message = {"id": "3", "type": "next", "payload": {"data": data, "errors": [{"message": "x"}]}}
    assert json.loads(encode_message(message))["payload"]["errors"] == [{"message": "x"}]
    assert json.loads(encode_message({"text": "\ud800"})) == {"text": "\ud800"}


async def test_direct_frames_write_the_shared_data_once_executed_with_their_own_ids() -> None:
    calls: list[str] = []
    delta = Delta(seats=[Seat(id="e1", label_calls=calls)])
    schema = build([])
    query = 'subscription { deltas(show: "s") { seats { label } } }'
    written: list[str] = []
    open_ops = {"1", "2"}
    outlets = [DirectFrames(op, lambda op=op: op in open_ops, lambda frame: written.append(frame) or True)
               for op in ("1", "2")]
    assert outlets[0].writer(lambda d: d) is None  # not bound to an operation yet
    for outlet in outlets:
        stream = await schema.subscribe(query, root_value=outlet)
        assert [r async for r in stream] == []  # type: ignore[union-attr]  # its executor bound the outlet
    writers = [outlet.writer(lambda d: d) for outlet in outlets]
    assert all(w is not None and w(delta) is True for w in writers)  # type: ignore[misc]
    assert [json.loads(f) for f in written] == [
        {"id": op, "type": "next", "payload": {"data": {"deltas": {"seats": [{"label": "e1"}]}}}} for op in ("1", "2")]
    assert calls == ["e1"]  # executed once for both
    open_ops.discard("2")  # the client completed operation 2
    assert writers[1](delta) is False  # type: ignore[misc]
    assert writers[0](PrivateDelta(seats=[])) is False  # type: ignore[misc]  # not shared: through the task
