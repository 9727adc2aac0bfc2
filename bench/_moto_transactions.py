"""Bench harness: moto with DynamoDB transactions costed and isolated as DynamoDB's are.

moto 5.2's ``transact_write_items`` deep-copies every table a transaction touches, once per
item (its rollback copy), so a 100-item transaction on a table of N items copies 100 N
items: its cost grows with the table, which DynamoDB's does not. It also runs concurrent
transactions unisolated (the copy races with other writers: HTTP 500 answers). A pipeline
bench against it measures moto, not the batch idempotency store.

:func:`install` (in the emulator's child process only; ``python -m bench._moto_transactions``
serves like ``python -m shardflow_tools.emulator``) wraps the method: transactions run one at
a time, and for a transaction of ``Put``, ``Delete`` and ``ConditionCheck`` items on tables
without a range key (the idempotency table's locks) the rollback copy is the table's item
mapping (references: a Put replaces an entry, a Delete removes one, neither mutates an item),
restored when the transaction is cancelled. Any other transaction runs moto's own code.

moto also parses a condition expression three times per transaction item (request
validation, the check, the put), each parse a pure-Python lexer costing about a millisecond:
most of a 100-item transaction's time. :func:`install` memoizes the parse (the same
expression, names and values give the same syntax tree, which evaluation does not change),
for every request of the emulator (powertools' conditional puts too). Only the bench uses
it; tests run plain moto.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections import OrderedDict
from typing import Any

_state = threading.local()
_LOCK = threading.Lock()


class _CopyModule:
    """Stands in for the ``copy`` module of moto's DynamoDB models: no table copy while a
    cheap rollback is in place, the real ``copy`` otherwise."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_state, "cheap", False) and type(value).__name__ == "Table":
            return value  # rolled back by the wrapper instead
        return copy.deepcopy(value, memo)


_PARSED_MAX = 4096


def _memoize_condition_parsing() -> None:
    import moto.dynamodb.comparisons as comparisons  # noqa: PLC0415 - the child's moto

    parser_class = comparisons.ConditionExpressionParser
    parse = parser_class.parse
    parsed: OrderedDict[tuple[Any, str, str], tuple[Any, list[str], list[str]]] = OrderedDict()
    lock = threading.Lock()

    def memoized(self: Any) -> Any:
        key = (
            self.condition_expression,
            json.dumps(self.expression_attribute_names, sort_keys=True),
            json.dumps(self.expression_attribute_values, sort_keys=True),
        )
        with lock:
            hit = parsed.get(key)
        if hit is None:
            op = parse(self)  # raises for an invalid expression: nothing kept
            with lock:
                found = (list(self.expr_attr_names_found), list(self.expr_attr_values_found))
                parsed[key] = (op, *found)
                while len(parsed) > _PARSED_MAX:
                    parsed.popitem(last=False)
            return op
        # What parse() records besides its result, which the request validation reads.
        self.expr_attr_names_found.extend(hit[1])
        self.expr_attr_values_found.extend(hit[2])
        return hit[0]

    parser_class.parse = memoized


def install() -> None:
    """Patch moto's DynamoDB backend in this process (see the module docstring)."""
    import moto.dynamodb.models as models  # noqa: PLC0415 - the child's moto

    _memoize_condition_parsing()

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    models.copy = _CopyModule()  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            ops = [next(iter(item.items())) for item in transact_items]
            names = {op.get("TableName") for _, op in ops}
            tables = [self.tables[n] for n in names if n in self.tables]
            cheap = all(kind in ("Put", "Delete", "ConditionCheck") for kind, _ in ops) and all(
                t.range_key_attr is None for t in tables
            )
            if not cheap:
                original(self, transact_items)
                return
            saved = [(t, copy.copy(t.items)) for t in tables]
            _state.cheap = True
            try:
                original(self, transact_items)
            except Exception:
                for table, items in saved:
                    table.items = items
                raise
            finally:
                _state.cheap = False

    backend.transact_write_items = transact_write_items


def main() -> int:
    """Serve the emulator with :func:`install` applied."""
    from shardflow_tools import emulator  # noqa: PLC0415

    install()
    return emulator.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
