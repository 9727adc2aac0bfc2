"""The Terraform expression evaluator the HCL tests rely on (``tests/support/hcl_expressions``).

The Terraform tests only mean something if the evaluator gets Terraform's answers: known
values computed, values known only after apply kept unknown (and spread to what uses
them), and the few cases where Terraform knows a result despite an unknown operand.
"""

from __future__ import annotations

from typing import Any

import pytest
from hcl_expressions import (
    EvalError,
    Unknown,
    eval_template,
    evaluate,
    is_unknown,
    split_template,
    to_string,
)


class Scope:
    """Variables and locals from dicts; a missing name is an error, as in a module."""

    def __init__(self, variables: dict[str, Any] | None = None, **locals_: Any) -> None:
        self.variables = variables or {}
        self.locals = locals_

    def variable(self, name: str) -> Any:
        if name not in self.variables:
            raise EvalError(f"var.{name} is not declared")
        return self.variables[name]

    def local(self, name: str) -> Any:
        if name not in self.locals:
            raise EvalError(f"local.{name} is not declared")
        return self.locals[name]


SCOPE = Scope(
    {
        "n": 3,
        "on": True,
        "off": False,
        "name": "events",
        "names": ["a", "b", "c"],
        "tags": {"team": "data"},
        "later": Unknown("var.later (required)"),
    },
    prefix="sf",
)


def ev(expr: str, scope: Scope = SCOPE) -> Any:
    return evaluate(expr, scope)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", [("lit", "plain")]),
        ("${var.a}", [("expr", "var.a")]),
        ("a-${var.b}-c", [("lit", "a-"), ("expr", "var.b"), ("lit", "-c")]),
        ("$${not.an.expr}", [("lit", "${not.an.expr}")]),
        ('${merge({a = "}"}, {})}x', [("expr", 'merge({a = "}"}, {})'), ("lit", "x")]),
    ],
)
def test_templates_split_into_literals_and_expressions(
    text: str, parts: list[tuple[str, str]]
) -> None:
    assert split_template(text) == parts


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("42", 42),
        ("1.5", 1.5),
        ('"text"', "text"),
        ("true", True),
        ("null", None),
        ('[1, "two", false]', [1, "two", False]),
        ('{ a = 1, "b" = var.name }', {"a": 1, "b": "events"}),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 % 4 - 10 / 5", 1.0),
        ("-var.n", -3),
        ("var.n >= 3 && var.n < 4", True),
        ("!var.on || var.off", False),
        ('var.name == "events" ? "yes" : "no"', "yes"),
        ("var.off ? 1 : var.on ? 2 : 3", 2),
        ("var.names[1]", "b"),
        ('var.tags["team"]', "data"),
        ("var.tags.team", "data"),
        ("var.names[*]", ["a", "b", "c"]),
        ('"${local.prefix}-${var.name}"', "sf-events"),
    ],
)
def test_known_expressions_have_terraforms_value(expr: str, value: Any) -> None:
    result = ev(expr)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("length(var.names)", 3),
        ('concat(var.names, ["d"])', ["a", "b", "c", "d"]),
        ('compact(["a", "", null, "b"])', ["a", "b"]),
        ('contains(var.names, "b")', True),
        ('merge(var.tags, { env = "dev" })', {"team": "data", "env": "dev"}),
        ("one([])", None),
        ('startswith(var.name, "ev")', True),
        ('replace(var.name, "e", "E")', "EvEnts"),
        ('split(",", "a,b")', ["a", "b"]),
        ("element(var.names, 4)", "b"),
        ("tostring(true)", "true"),
        ("tostring(null)", None),
    ],
)
def test_functions(expr: str, value: Any) -> None:
    assert ev(expr) == value


@pytest.mark.parametrize(
    "expr",
    [
        "aws_kinesis_stream.this.arn",
        "module.stream.arn",
        "each.key",
        "path.module",
        "var.later",
        "var.later + 1",
        "var.later == 1",
        "!var.later",
        "var.names[var.later]",
        "length(aws_sqs_queue.dlq.arn)",
        "unknown_function(1)",
        "[for s in var.names : upper(s)]",
        "{ for s in var.names : s => upper(s) }",
        "var.later ? 1 : 2",
    ],
)
def test_what_is_known_only_after_apply_stays_unknown(expr: str) -> None:
    assert is_unknown(ev(expr))


def test_an_unknown_reference_says_what_it_is() -> None:
    assert ev("aws_kinesis_stream.this.arn") == Unknown("aws_kinesis_stream.this.arn")


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("var.off && var.later", False),
        ("var.later && var.off", False),
        ("var.on || var.later", True),
        ("var.later ? 5 : 5", 5),
    ],
)
def test_terraform_knows_some_results_despite_an_unknown_operand(expr: str, value: Any) -> None:
    assert ev(expr) == value


def test_merge_and_concat_keep_what_is_known() -> None:
    merged = ev('merge({ arn = aws_sqs_queue.dlq.arn }, { name = "dlq" })')
    assert set(merged) == {"arn", "name"}
    assert merged["name"] == "dlq"
    assert is_unknown(merged["arn"])
    joined = ev('concat(["a"], [aws_sqs_queue.dlq.arn])')
    assert joined[0] == "a"
    assert is_unknown(joined)
    # A whole argument unknown leaves nothing known.
    assert isinstance(ev("merge(var.later, {})"), Unknown)


def test_templates_keep_a_lone_expressions_type_and_spread_unknowns() -> None:
    assert eval_template("${var.n}", SCOPE) == 3
    assert eval_template("${var.on}", SCOPE) is True
    assert eval_template("n=${var.n} on=${var.on}", SCOPE) == "n=3 on=true"
    assert eval_template("$${keep}", SCOPE) == "${keep}"
    assert eval_template("arn:${module.s.arn}", SCOPE) == Unknown("arn:${module.s.arn}")


def test_interpolated_values_are_written_as_terraform_writes_them() -> None:
    assert to_string(True) == "true"
    assert to_string(3.0) == "3"
    assert to_string(2.5) == "2.5"
    with pytest.raises(EvalError, match="null"):
        to_string(None)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ('"open', "unterminated string"),
        ("[1, 2", "expected"),
        ("(1 + 2", "expected"),
        ("1 2", "unparsed rest"),
        ("var.n @ 2", "cannot tokenize"),
        ("var.missing", "not declared"),
        ("local.missing", "not declared"),
    ],
)
def test_what_the_evaluator_cannot_read_is_an_error(expr: str, message: str) -> None:
    with pytest.raises(EvalError, match=message):
        ev(expr)


def test_is_unknown_looks_inside_collections() -> None:
    assert not is_unknown([1, {"a": "b"}])
    assert is_unknown([1, {"a": Unknown("x")}])
    assert is_unknown({"k": [Unknown("x")]})
