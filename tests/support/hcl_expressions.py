"""The part of Terraform's expression language the project's modules use, evaluated.

Literals, ``var.*`` and ``local.*`` (looked up in a :class:`Scope`), string templates,
``?:``, comparisons, ``!``, ``&&``/``||``, arithmetic, lists, objects, indexing and a few
functions. Anything that is only known after apply (a resource attribute, another module's
output, ``each.*``, ``path.*``, a ``for`` expression) evaluates to :class:`Unknown`, and so
does every expression built on one, except where Terraform would know the answer anyway
(``false && x``, ``true || x``, a conditional whose branches are equal, the known keys of
``merge``). ``tests/support/terraform_model.py`` builds modules and instances on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Scope(Protocol):
    """Where ``var.NAME`` and ``local.NAME`` are looked up (a module instance)."""

    def variable(self, name: str) -> Any:
        """The value of input variable ``name``."""

    def local(self, name: str) -> Any:
        """The value of local ``name``."""


@dataclass(frozen=True)
class Unknown:
    """A value Terraform knows only after apply (``expr`` says which)."""

    expr: str


def is_unknown(value: Any) -> bool:
    """True for :class:`Unknown` and for lists or dicts holding one."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    return False


class EvalError(Exception):
    """An expression the model cannot evaluate, or one Terraform would reject."""


# --- Templates and expressions -------------------------------------------------------------


def _skip_string(text: str, i: int) -> int:
    """Index after the quoted string starting at ``text[i] == '"'``."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i):
            i = _skip_braces(text, i + 1)
            continue
        i += 1
    raise EvalError(f"unterminated string in {text!r}")


def _skip_braces(text: str, i: int) -> int:
    """Index after the bracket group opening at ``text[i]`` (``{``, ``[`` or ``(``)."""
    closing = {"{": "}", "[": "]", "(": ")"}
    stack = [closing[text[i]]]
    i += 1
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c in closing:
            stack.append(closing[c])
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    raise EvalError(f"unbalanced brackets in {text!r}")


def split_template(text: str) -> list[tuple[str, str]]:
    """``[("lit", "..."), ("expr", "...")]``: the literal and interpolated parts."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _skip_braces(text, i + 1)
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            parts.append(("expr", text[i + 2 : end - 1]))
            i = end
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?)
      | (?P<str>")
      | (?P<op>==|!=|<=|>=|&&|\|\||[?:!<>(),\[\]{}.*=+\-/%])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if not m:
            raise EvalError(f"cannot tokenize {text[i:]!r}")
        kind = m.lastgroup or ""
        if kind == "str":
            start = m.start("str")
            end = _skip_string(text, start)
            out.append(("str", text[start + 1 : end - 1]))
            i = end
            continue
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": lambda v: None if v is None else to_string(v),
    "length": len,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "compact": lambda lst: [x for x in lst if x not in (None, "")],
    "contains": lambda lst, v: v in lst,
    "merge": lambda *maps: {k: v for m in maps for k, v in m.items()},
    "one": lambda lst: lst[0] if lst else None,
    "startswith": lambda s, p: s.startswith(p),
    "replace": lambda s, a, b: s.replace(a, b),
    "split": lambda sep, s: s.split(sep),
    "element": lambda lst, i: lst[i % len(lst)],
}


#: Functions whose result is known where their arguments' elements are known.
_PASS_THROUGH = frozenset({"merge", "concat"})


def to_string(value: Any) -> str:
    """A value as Terraform interpolates it into a string (``true``, ``3``, never null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        raise EvalError("null in a string template")
    return str(value)


class _Parser:
    """A recursive-descent parser that evaluates as it parses (no syntax tree kept)."""

    def __init__(self, text: str, scope: Scope) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.pos = 0
        self.scope = scope

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise EvalError(f"expected {value!r} in {self.text!r}, got {tok}")
        self.pos += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "op" and tok[1] == value

    def parse(self) -> Any:
        value = self.ternary()
        if self.peek() is not None:
            raise EvalError(f"unparsed rest {self.toks[self.pos :]} in {self.text!r}")
        return value

    def ternary(self) -> Any:
        cond = self.binary(0)
        if not self.at("?"):
            return cond
        self.take("?")
        yes = self.ternary()
        self.take(":")
        no = self.ternary()
        if isinstance(cond, Unknown):
            return yes if yes == no else Unknown(self.text)
        return yes if cond else no

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _apply(op, left, right, self.text)
        return left

    def unary(self) -> Any:
        if self.at("!"):
            self.take()
            value = self.unary()
            return value if isinstance(value, Unknown) else not value
        if self.at("-"):
            self.take()
            value = self.unary()
            return value if isinstance(value, Unknown) else -value
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while True:
            if self.at("."):
                self.take()
                kind, name = self.take()
                if kind == "op" and name == "*":
                    continue  # splat: the model keeps the collection as it is
                value = value if isinstance(value, Unknown) else value[name]
            elif self.at("["):
                self.take()
                if self.at("*"):
                    self.take()
                    self.take("]")
                    continue
                index = self.ternary()
                self.take("]")
                if isinstance(value, Unknown) or isinstance(index, Unknown):
                    value = Unknown(self.text)
                else:
                    value = value[index]
            else:
                return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return eval_template(text, self.scope)
        if kind == "op" and text == "(":
            value = self.ternary()
            self.take(")")
            return value
        if kind == "op" and text == "[":
            nxt = self.peek()
            if nxt is not None and nxt == ("name", "for"):
                self._skip_until("]")
                return Unknown(self.text)
            items = []
            while not self.at("]"):
                items.append(self.ternary())
                if self.at(","):
                    self.take()
            self.take("]")
            return items
        if kind == "op" and text == "{":
            return self._object()
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if self.at("("):
                return self._call(text)
            return self._reference(text)
        raise EvalError(f"unexpected {text!r} in {self.text!r}")

    def _skip_until(self, closing: str) -> None:
        depth = 1
        while depth:
            kind, text = self.take()
            if kind == "op" and text in "[({":
                depth += 1
            elif kind == "op" and text in "])}":
                depth -= 1

    def _object(self) -> Any:
        if self.peek() == ("name", "for"):
            # The model does not iterate: a for expression is known only after apply to it.
            self._skip_until("}")
            return Unknown(self.text)
        obj: dict[str, Any] = {}
        while not self.at("}"):
            kind, key = self.take()
            if kind not in ("name", "str"):
                self._skip_until("}")
                return Unknown(self.text)
            self.take("=")
            obj[key] = self.ternary()
            if self.at(","):
                self.take()
        self.take("}")
        return obj

    def _call(self, name: str) -> Any:
        self.take("(")
        args = []
        while not self.at(")"):
            args.append(self.ternary())
            if self.at(","):
                self.take()
        self.take(")")
        fn = _FUNCTIONS.get(name)
        # merge and concat keep what is known: a map's keys, a list's other elements.
        partial = name in _PASS_THROUGH and not any(isinstance(a, Unknown) for a in args)
        if fn is None or (not partial and any(is_unknown(a) for a in args)):
            return Unknown(f"{name}(...)")
        return fn(*args)

    def _reference(self, root: str) -> Any:
        if root in ("var", "local") and self.at("."):
            self.take(".")
            _, name = self.take()
            return self.scope.variable(name) if root == "var" else self.scope.local(name)
        # Resource, data source, module output, each.*, path.*: known after apply.
        parts = [root]
        while self.at("."):
            self.take()
            parts.append(self.take()[1])
        return Unknown(".".join(parts))


def _apply(op: str, left: Any, right: Any, text: str) -> Any:
    if op in ("&&", "||"):
        if op == "&&" and (left is False or right is False):
            return False
        if op == "||" and (left is True or right is True):
            return True
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown(text)
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "||": lambda a, b: a or b,
        "&&": lambda a, b: a and b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return ops[op](left, right)


def evaluate(expr: str, scope: Scope) -> Any:
    """The value of expression ``expr`` (without ``${ }``) in ``scope``."""
    return _Parser(expr, scope).parse()


def eval_template(text: str, scope: Scope) -> Any:
    """The value of a string as python-hcl2 gives it: a lone ``${expr}`` keeps its type,
    anything else is a string template (:class:`Unknown` if any part is)."""
    parts = split_template(text)
    if len(parts) == 1 and parts[0][0] == "expr":
        return evaluate(parts[0][1], scope)
    out = []
    for kind, part in parts:
        if kind == "lit":
            out.append(part)
            continue
        value = evaluate(part, scope)
        if is_unknown(value):
            return Unknown(text)
        out.append(to_string(value))
    return "".join(out)
