"""Document limits checked in one pass over the document: validation costs what the document's
text costs, however its fragments spread each other.

A fragment spread twice by each of 20 fragments expands a 1 KB document into a million
fields. Checkers that walk a fragment again at every use (strawberry's depth and alias limiters,
a plain cost walk) then take seconds. Here each fragment's depth, alias count and cost is
measured once per document (and per paging context) and reused at every spread; the walk
stops at the first limit passed; spreads are capped document-wide. graphql-core's check of
overlapping fields, which compares every pair of same-named fields, runs next on a budget of
its own, and the whole validation is held to a CPU budget (BOXOFFICE_VALIDATION_BUDGET_MS).
All this happens as validation enters the document, before any other rule sees a selection; a
passed limit ends validation with one INVALID_INPUT error. The numbers and messages are those
of the limiters this replaces (depth counted as strawberry counts it: fields with a selection,
introspection fields not counted; aliases summed over the document's operations).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError,
                     InlineFragmentNode, Node, OperationDefinitionNode, SelectionSetNode, ValidationContext,
                     ValidationRule, visit)
from graphql.utilities import TypeInfo, TypeInfoVisitor
from graphql.validation import OverlappingFieldsCanBeMergedRule
from graphql.validation.rules.overlapping_fields_can_be_merged import RuleContext
from graphql.validation.validate import ValidationAbortedError, query_document_keys_to_validate
from strawberry.extensions import AddValidationRules

from .cost import MAX_COST, ONCE_COST, price

# Nesting the walk follows at most (a field, inline fragment or spread is one level), whatever
# the depth limit ignores (introspection): far past any real document, well inside Python's stack.
MAX_NESTING = 64
# graphql-core's overlap check spends up to 500,000 units on one document (seconds, for a
# 10 KB document of repeated fields). The frontend's documents and the introspection query need a few.
OVERLAP_BUDGET = 2_000
_CHECK_EVERY = 64  # selections walked between looks at the clock


class ValidationClock:
    """This thread's CPU time less the garbage collector's: a collection that happens to run during
    a validation (a full one takes 100 ms and more in a large process) is not the document's doing.
    One per schema; it stays registered with the collector for the life of the process."""

    def __init__(self) -> None:
        self._collecting = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self._collecting += time.thread_time() - self._started

    def __call__(self) -> float:
        return time.thread_time() - self._collecting


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_spreads: int
    budget_ms: float
    max_cost: int = MAX_COST
    clock: Callable[[], float] = time.thread_time  # CPU seconds

    def deadline(self) -> float:
        return self.clock() + self.budget_ms / 1000


class Measure(NamedTuple):
    depth: int
    aliases: int
    cost: int


_NOTHING = Measure(0, 0, 0)


def _invalid(message: str, nodes: Node | list[Node] | None = None) -> ValidationAbortedError:
    """Raised to end validation at once: the only error the client gets."""
    return ValidationAbortedError(message, nodes, extensions={"code": "INVALID_INPUT"})


def over_budget(budget_ms: float) -> ValidationAbortedError:
    return _invalid(f"This document took too long to check (over {budget_ms:g} ms); simplify it.")


class _Walk:
    """One document's measures; fragments measured once per paging context."""

    def __init__(self, context: ValidationContext, limits: Limits, deadline: float) -> None:
        self.schema = context.schema
        self.limits = limits
        self.deadline = deadline
        self.fragments = {d.name.value: d for d in context.document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.measured: dict[tuple[str, bool], Measure] = {}
        self.walking: set[str] = set()  # fragments being measured: a cycle, reported by graphql-core
        self.operation = "anonymous"
        self.selections = 0
        self.walked = 0  # selections visited, for tests: linear in the document's text

    def operation_measure(self, operation: OperationDefinitionNode) -> Measure:
        schema = self.schema
        root = {"query": schema.query_type, "mutation": schema.mutation_type,
                "subscription": schema.subscription_type}[operation.operation.value]
        self.operation = operation.name.value if operation.name else "anonymous"
        return self.selection_set(operation.selection_set, root, paged=False, nesting=0, above=0)

    def selection_set(self, node: SelectionSetNode, parent: Any, *, paged: bool, nesting: int,
                      above: int) -> Measure:
        """`above`: the fields counted for depth that enclose this selection (checked on the way
        down, so depth is reported before what the depth multiplies)."""
        if nesting > MAX_NESTING:
            raise self.too_deep(node)
        depth = aliases = cost = 0
        for selection in node.selections:
            self.walked += 1
            self.selections += 1
            if self.selections >= _CHECK_EVERY:
                self.selections = 0
                if self.limits.clock() > self.deadline:
                    raise over_budget(self.limits.budget_ms)
            if isinstance(selection, FieldNode):
                measure = self.field(selection, parent, paged=paged, nesting=nesting, above=above)
            elif isinstance(selection, InlineFragmentNode):
                target = (self.schema.get_type(selection.type_condition.name.value)
                          if selection.type_condition else parent)
                measure = self.selection_set(selection.selection_set, target, paged=paged, nesting=nesting + 1,
                                             above=above)
            elif isinstance(selection, FragmentSpreadNode):
                measure = self.fragment(selection, paged=paged, nesting=nesting + 1, above=above)
            else:  # pragma: no cover - the parser makes no other selection
                continue
            depth = max(depth, measure.depth)
            aliases += measure.aliases
            cost += measure.cost
        return Measure(depth, aliases, cost)

    def field(self, node: FieldNode, parent: Any, *, paged: bool, nesting: int, above: int) -> Measure:
        alias = 1 if node.alias is not None else 0
        priced = price(parent, node, paged=paged)
        if node.selection_set is None:
            return Measure(0, alias, 0 if priced is None else priced.total(0))
        if priced is None:  # introspection (or unknown): counts no depth and no cost, but its aliases
            inner = self.selection_set(node.selection_set, None, paged=paged, nesting=nesting + 1, above=above)
            return Measure(0, alias + inner.aliases, ONCE_COST if node.name.value == "__schema" else 0)
        if above + 1 > self.limits.max_depth:
            raise self.too_deep(node)
        inner = self.selection_set(node.selection_set, priced.target, paged=priced.paged, nesting=nesting + 1,
                                   above=above + 1)
        measure = Measure(1 + inner.depth, alias + inner.aliases, priced.total(inner.cost))
        self.check(measure, node)
        return measure

    def fragment(self, spread: FragmentSpreadNode, *, paged: bool, nesting: int, above: int) -> Measure:
        name = spread.name.value
        key = (name, paged)
        measure = self.measured.get(key)
        if measure is None:
            definition = self.fragments.get(name)
            if definition is None or name in self.walking:  # unknown fragments and cycles: graphql-core's errors
                return _NOTHING
            self.walking.add(name)
            try:
                target = self.schema.get_type(definition.type_condition.name.value)
                measure = self.selection_set(definition.selection_set, target, paged=paged, nesting=nesting,
                                             above=above)
            finally:
                self.walking.discard(name)
            self.check(measure, definition)
            self.measured[key] = measure
        if above + measure.depth > self.limits.max_depth:  # measured once, spread deeper here
            raise self.too_deep(spread)
        return measure

    def check(self, measure: Measure, node: Node) -> None:
        """Stops at the first limit a part already passes: the whole can only be larger."""
        limits = self.limits
        if measure.depth > limits.max_depth:
            raise self.too_deep(node)
        if measure.aliases > limits.max_aliases:
            raise too_many_aliases(measure.aliases, limits.max_aliases)
        if measure.cost > limits.max_cost:
            raise too_costly(measure.cost, limits.max_cost, node)

    def too_deep(self, node: Node) -> ValidationAbortedError:
        return _invalid(f"'{self.operation}' exceeds maximum operation depth of {self.limits.max_depth}", node)


def too_many_aliases(count: int, allowed: int) -> ValidationAbortedError:
    return _invalid(f"{count} aliases found. Allowed: {allowed}")


def too_costly(cost: int, allowed: int, node: Node) -> ValidationAbortedError:
    return _invalid(f"This query asks for too much (estimated cost {cost} > {allowed}); page or split it.", node)


def count_spreads(document: DocumentNode) -> int:
    """Fragment spreads written in the document (used or not), without expanding any."""
    count = 0
    pending = [d.selection_set for d in document.definitions
               if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                count += 1
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                pending.append(selection.selection_set)  # type: ignore[attr-defined]
    return count


def measure_document(context: ValidationContext, limits: Limits, deadline: float) -> _Walk:
    """Raises ValidationAbortedError (typed INVALID_INPUT) at the first limit the document passes."""
    spreads = count_spreads(context.document)
    if spreads > limits.max_spreads:
        raise _invalid(f"{spreads} fragment spreads found. Allowed: {limits.max_spreads}")
    walk = _Walk(context, limits, deadline)
    aliases = 0
    for definition in context.document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            measure = walk.operation_measure(definition)
            walk.check(Measure(measure.depth, 0, measure.cost), definition)
            aliases += measure.aliases
            if aliases > limits.max_aliases:
                raise too_many_aliases(aliases, limits.max_aliases)
    return walk


def document_limits_rule(limits: Limits) -> type[ValidationRule]:
    """The rule class for these limits. Build it once per schema: strawberry's validation cache
    (and ours) key on the rule classes, so a class per request would defeat them."""

    class DocumentLimits(ValidationRule):
        """Measures the document when validation reaches it, before any other rule looks at a
        selection, then checks overlapping fields (graphql-core's rule, on a budget); then holds the
        rest of validation to the CPU budget. A passed limit ends validation with one typed error."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.deadline = limits.deadline()

        def enter_document(self, *_: Any) -> None:
            measure_document(self.context, limits, self.deadline)
            for error in overlap_conflicts(self.context, limits, self.deadline):
                self.report_error(error)

        def enter_selection_set(self, *_: Any) -> None:
            if limits.clock() > self.deadline:
                raise over_budget(limits.budget_ms)

    return DocumentLimits


class _TimedRuleContext(RuleContext):
    """The overlap check's budget: its units, and the validation's CPU deadline, looked at as it
    spends them (one call of the check can otherwise run for the whole document)."""

    __slots__ = ("_clock", "_deadline", "_spends", "_units")

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline
        self._spends = 0
        super().__init__()
        self._units = OVERLAP_BUDGET

    @property  # type: ignore[override]
    def remaining_complexity_budget(self) -> int:
        return self._units

    @remaining_complexity_budget.setter
    def remaining_complexity_budget(self, units: int) -> None:
        self._spends += 1
        if self._spends % 16 == 0 and self._clock() > self._deadline:
            units = -1  # graphql-core aborts validation when the budget runs out
        self._units = units


class _BoundedOverlap(OverlappingFieldsCanBeMergedRule):
    def __init__(self, context: ValidationContext, clock: Callable[[], float], deadline: float) -> None:
        super().__init__(context)
        self.rule_context = _TimedRuleContext(clock, deadline)


def overlap_conflicts(context: ValidationContext, limits: Limits, deadline: float) -> list[GraphQLError]:
    """graphql-core's overlapping-fields rule, run on its own pass with a budget: it compares every
    pair of same-named fields, and its own budget (500,000 steps) is a second of CPU. Run ahead of
    the other rules, so that whichever copy of the rule comes after (strawberry's list keeps it out,
    other validators may not) only repeats work that is known to fit."""
    schema, document = context.schema, context.document
    type_info = TypeInfo(schema)
    conflicts: list[GraphQLError] = []
    check = ValidationContext(schema, document, type_info, conflicts.append)
    try:
        visit(document, TypeInfoVisitor(type_info, _BoundedOverlap(check, limits.clock, deadline)),
              query_document_keys_to_validate)
    except ValidationAbortedError:
        raise _invalid("This document has too many fields of the same name to check, or took too long "
                       f"(over {limits.budget_ms:g} ms); simplify it.") from None
    return conflicts


class LimitedValidation(AddValidationRules):
    """Adds the rules (the document limits, which check overlapping fields, first), and leaves
    graphql-core's unbounded overlap check out."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (
            *(rule for rule in context.validation_rules if rule is not OverlappingFieldsCanBeMergedRule),
            *self.validation_rules)
        yield
