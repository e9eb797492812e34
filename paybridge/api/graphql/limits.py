"""Query cost: every field costs 1, and a field that returns a page multiplies the cost of what
it selects by its page size (`first`, `last` or `limit`; 10 by default, 100 when it comes from a
variable). Introspection is free. Together with the depth, alias and token limits this bounds
the work one request can ask for."""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from paybridge.selectors.pagination import DEFAULT_LIMIT, MAX_LIMIT

PAGE_ARGS = ("first", "last", "limit")


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            cost = _selection_cost(self.context, node.selection_set, set())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"Query cost {cost} exceeds the maximum of {max_cost}; ask for smaller "
                        "pages or fewer fields.",
                        node,
                        extensions={"code": "query_too_complex"},
                    )
                )

    return QueryCostRule


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value in PAGE_ARGS:
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), MAX_LIMIT))
            return MAX_LIMIT  # a variable: assume the largest page
    return DEFAULT_LIMIT if field.name.value in _DEFAULT_PAGED else 1


def _selection_cost(
    context: ValidationContext, selection_set: SelectionSetNode | None, seen: set[str]
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            size = _page_size(selection)
            total += 1 + size * _selection_cost(context, selection.selection_set, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(context, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:  # cycles are reported by graphql-core
                total += _selection_cost(context, fragment.selection_set, seen | {name})
    return total


# List fields whose page size defaults to DEFAULT_LIMIT when no size argument is given.
_DEFAULT_PAGED = frozenset({"transactions", "settlements", "webhooks", "apiLogs"})
