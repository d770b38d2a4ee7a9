"""How serving processes run the cyclic garbage collector (collection_policy.py)."""

from __future__ import annotations

import gc

from boxoffice.collection_policy import YOUNG_COLLECTION_EVERY, serving_collections
from support import Api


def test_young_collections_run_rarely_while_serving_and_as_before_after() -> None:
    before = gc.get_threshold()
    with serving_collections():
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *before[1:])
        assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's sight
    assert gc.get_threshold() == before


async def test_the_app_serves_under_the_policy(api: Api) -> None:
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
    assert (await api.gql("{ serverTime }"))["serverTime"]
