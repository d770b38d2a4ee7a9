"""The query-cost model: what one field of a document costs, given what it selects.

A field costs 1 plus, for a list, its length times the cost of what it selects. Lengths are
read from the document where it says (`first`), else priced as the list really runs:
Show.seats as the largest venue we sell (the document cannot say which show, and a section
may be the whole map), every other unpaged list as UNBOUNDED_LIST. Seats are completed as whole
rows (schema/leaf_rows.py), so a seat costs one unit whatever fields it selects. A seat map and
a section's (the frontend asks for one at a time) fit MAX_COST; three maps, or the maps of a
list of shows, do not.

Depth, alias and token limits bound a document's shape; this bounds the work it asks for.
schema/document_limits.py walks the document once, memoised per fragment, and applies it.
Introspection is free but for `__schema`, the whole schema (about 25 ms of CPU and 45 KB here):
it costs ONCE_COST, half the budget and one, so a document reads it once (partners and GraphiQL
do), not thirty times under aliases. Its nesting is limited by graphql-core
(MaxIntrospectionDepthRule). A log-in or a sign-up (a password hash) costs the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (FieldNode, GraphQLInterfaceType, GraphQLList, GraphQLNamedType, GraphQLNonNull,
                     GraphQLObjectType, IntValueNode, get_named_type)

MAX_COST = 150_000  # two whole seat maps of the largest venue (and a little more) fit; three do not
UNBOUNDED_LIST = 10  # what an unpaged list is assumed to hold
VARIABLE_PAGE = 100  # a `first` given as a variable is assumed to be the largest page
MAX_SHOW_SEATS = 50_000  # the reserved seats of the largest venue (the demo stadium)
ONCE_COST = MAX_COST // 2 + 1  # a field a document may ask for once (two pass the budget)
# Fields priced by their own CPU rather than what they select: a password hash (argon2, tens of ms
# each) is done once a document. Thirty aliased successful log-ins (which no failed-log-in limit
# counts) were seconds of CPU for one request.
ONCE_A_DOCUMENT = {("Mutation", "logIn"), ("Mutation", "signUp")}
# Lists priced by their rows: (type, field) -> the most items they return, one unit each.
ROW_LISTS = {("Show", "seats"): MAX_SHOW_SEATS}


@dataclass(frozen=True, slots=True)
class Price:
    """How one field is priced; its total is `total(children)` once its selection is priced."""

    target: GraphQLNamedType  # the type its selection is read on
    multiplier: int
    paged: bool  # its selection is a page's content: unpaged lists in it are the page's edges
    rows: bool  # items cost one unit each, whatever they select

    def total(self, children: int) -> int:
        return 1 + self.multiplier * (1 if self.rows else children)


def page_size(node: FieldNode) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value == "first":
            return int(arg.value.value) if isinstance(arg.value, IntValueNode) else VARIABLE_PAGE
    return None


def price(parent: Any, node: FieldNode, *, paged: bool) -> Price | None:
    """The field's price, or None when it costs nothing (introspection; fields unknown to the schema
    are another rule's business)."""
    name = node.name.value
    if (name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
            or parent.name.startswith("__")):  # introspection types, e.g. in a fragment on __Type
        return None
    definition = parent.fields.get(name)
    if definition is None:
        return None
    field_type = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    if (parent.name, name) in ONCE_A_DOCUMENT:
        return Price(get_named_type(definition.type), ONCE_COST - 1, paged=False, rows=True)
    rows = ROW_LISTS.get((parent.name, name))
    page = page_size(node)
    if rows is not None:
        multiplier = rows if page is None else min(rows, max(page, 1))
    elif page is not None:
        multiplier = max(page, 1)
    elif isinstance(field_type, GraphQLList):
        multiplier = 1 if paged else UNBOUNDED_LIST  # a connection's edges are its page
    else:
        multiplier = 1
    return Price(get_named_type(definition.type), multiplier, paged=page is not None, rows=rows is not None)
