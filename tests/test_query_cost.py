"""The query-cost limit refuses expensive documents before they run, and lets real pages through."""

from boxoffice.schema.cost import MAX_COST


async def test_expensive_nesting_is_refused_cheap_pages_pass(api) -> None:
    heavy = """{ events(first: 100) { edges { node { shows { seats { id status version priceCents x y row number
      section sectionId accessible obstructedView } } } } } }"""
    body = await api.post(heavy)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "too much" in body["errors"][0]["message"] and str(MAX_COST) in body["errors"][0]["message"]
    listing = """{ events(first: 20) { edges { cursor node { id name performer category venue { name city
      sections { id name capacity } } shows { id startsAt priceTiers { name priceCents }
      availability { version sections { name available } } } } } pageInfo { hasNextPage endCursor } } }"""
    assert "errors" not in await api.post(listing)
    # A page size given as a variable counts as the largest page: the document is judged once.
    variable = heavy.replace("{ events(first: 100)", "query($n: Int) { events(first: $n)")
    assert (await api.post(variable, {"n": 1}))["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_introspection_is_not_limited_by_cost(api) -> None:
    from graphql import get_introspection_query

    body = await api.post(get_introspection_query())
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"
