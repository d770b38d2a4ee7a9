"""What the app's lifespan sets for the process while it serves."""

from __future__ import annotations

import gc

from boxoffice.app import YOUNG_COLLECTION_EVERY
from support import Api


async def test_young_collections_run_rarely_while_serving(api: Api) -> None:
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
    assert (await api.gql("{ serverTime }"))["serverTime"]
