"""Anonymous read queries share answers briefly; writes through this process are seen at once."""

import uuid

from support import HOLD


async def test_anonymous_reads_are_shared_and_writes_clear_them(api) -> None:
    org, _ = await api.user("organizer")
    fan, _ = await api.user()
    show = await api.show(org)
    q = "query($id: ID!) { show(id: $id) { availability { version codes } } }"
    first = await api.client.post("/graphql", json={"query": q, "variables": {"id": show["id"]}})
    second = await api.client.post("/graphql", json={"query": q, "variables": {"id": show["id"]}})
    assert first.content == second.content
    # A hold made through this process is visible to the very next anonymous read.
    await api.gql(HOLD, {"input": {"showId": show["id"], "seatIds": show["seats"][:1],
                                   "idempotencyKey": uuid.uuid4().hex}}, fan)
    after = (await api.client.post("/graphql", json={"query": q, "variables": {"id": show["id"]}})).json()
    assert after["data"]["show"]["availability"]["codes"].startswith("H")
    # Signed-in requests are never served from the shared cache.
    mine = await api.gql("{ viewer { id } }", token=fan)
    assert mine["viewer"]["id"]
