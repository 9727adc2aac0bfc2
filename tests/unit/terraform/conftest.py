"""A small model of the Terraform code, for tests that run without a terraform binary.

python-hcl2 parses the files; :class:`Instance` evaluates the part of the expression
language the modules use for what the tests check (literals, ``var.*``, ``local.*``,
templates, ``?:``, ``==``/``!=``, ``!``, ``&&``/``||``, lists and a few functions), with
module calls instantiated recursively from their local ``source``. Anything that is only
known after apply (a resource attribute, another module's output) evaluates to
:class:`Unknown`; a ``count`` that is unknown at plan time is an error, as it is for
Terraform.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[3]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
MODULE_NAMES = ("kinesis_stream", "lambda_consumer", "kcl_consumer", "s3_output")

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


@cache
def parse_file(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 gives it (string quotes stripped, no comments)."""
    with path.open() as fh:
        parsed: dict[str, Any] = hcl2.load(fh, serialization_options=_OPTIONS)
    return parsed


def tf_files(root: Path = TERRAFORM) -> list[Path]:
    """Every .tf file under ``root`` (modules, their examples, the environments)."""
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def tf_dirs(root: Path = TERRAFORM) -> list[Path]:
    """Every directory holding .tf files: a Terraform module each."""
    return sorted({p.parent for p in tf_files(root)})


# --- Values -------------------------------------------------------------------------------


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
    "tostring": lambda v: None if v is None else _to_string(v),
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


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        raise EvalError("null in a string template")
    return str(value)


class _Parser:
    def __init__(self, text: str, scope: Instance) -> None:
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
            return self.scope.eval_template(text)
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


# --- Modules and instances -----------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One ``resource`` or ``data`` block: kind (``resource``/``data``), type, name, body."""

    kind: str
    type: str
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


@dataclass
class Module:
    """The parsed .tf files of one directory."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: list[Resource] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    @cache
    def load(cls, path: Path) -> Module:
        module = cls(path)
        for file in sorted(path.glob("*.tf")):
            parsed = parse_file(file)
            for block in parsed.get("variable", []):
                module.variables.update(block)
            for block in parsed.get("locals", []):
                module.locals.update(block)
            for block in parsed.get("output", []):
                module.outputs.update(block)
            for block in parsed.get("module", []):
                module.calls.update(block)
            for kind in ("resource", "data"):
                for block in parsed.get(kind, []):
                    for type_, named in block.items():
                        for name, body in named.items():
                            module.blocks.append(Resource(kind, type_, name, body, file))
        return module


class Instance:
    """A module with its input values: evaluates expressions in its scope."""

    def __init__(self, module: Module, inputs: dict[str, Any] | None = None, address: str = ""):
        self.module = module
        self.address = address or str(module.path.relative_to(REPO))
        inputs = inputs or {}
        unknown = set(inputs) - set(module.variables)
        if unknown:
            raise EvalError(f"{self.address}: no variable(s) {sorted(unknown)}")
        self._vars: dict[str, Any] = {}
        for name, spec in module.variables.items():
            if name in inputs:
                self._vars[name] = inputs[name]
            elif "default" in spec:
                self._vars[name] = spec["default"]
            else:
                self._vars[name] = Unknown(f"var.{name} (required)")
        self._locals: dict[str, Any] = {}
        self._evaluating: set[str] = set()

    def variable(self, name: str) -> Any:
        if name not in self._vars:
            raise EvalError(f"{self.address}: var.{name} is not declared")
        return self._vars[name]

    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self.module.locals:
                raise EvalError(f"{self.address}: local.{name} is not declared")
            if name in self._evaluating:
                raise EvalError(f"{self.address}: local.{name} refers to itself")
            self._evaluating.add(name)
            self._locals[name] = self.eval(self.module.locals[name])
            self._evaluating.discard(name)
        return self._locals[name]

    def eval(self, value: Any) -> Any:
        """The value of an attribute as python-hcl2 gives it."""
        if isinstance(value, str):
            return self.eval_template(value)
        if isinstance(value, list):
            return [self.eval(v) for v in value]
        if isinstance(value, dict):
            return {k: self.eval(v) for k, v in value.items()}
        return value

    def eval_template(self, text: str) -> Any:
        parts = split_template(text)
        if len(parts) == 1 and parts[0][0] == "expr":
            return _Parser(parts[0][1], self).parse()
        out = []
        for kind, part in parts:
            if kind == "lit":
                out.append(part)
                continue
            value = _Parser(part, self).parse()
            if is_unknown(value):
                return Unknown(text)
            out.append(_to_string(value))
        return "".join(out)

    def count(self, block: Resource | dict[str, Any], what: str) -> int:
        """How many instances a block (resource or module call) has; unknown is an error."""
        body = block.body if isinstance(block, Resource) else block
        if "count" in body:
            n = self.eval(body["count"])
        elif "for_each" in body:
            each = self.eval(body["for_each"])
            # A map's keys decide the instances; its values may be unknown.
            known = isinstance(each, dict) or not is_unknown(each)
            n = len(each) if known else each
        else:
            return 1
        if is_unknown(n):
            raise EvalError(
                f"{self.address}: count/for_each of {what} is unknown until apply ({n}); "
                "Terraform rejects that at plan time"
            )
        return int(n)

    def resources(self, type_: str, kind: str = "resource") -> list[Resource]:
        """The blocks of ``type_`` that exist with this instance's inputs."""
        return [
            b
            for b in self.module.blocks
            if b.type == type_ and b.kind == kind and self.count(b, b.address) > 0
        ]

    def children(self) -> dict[str, Instance]:
        """The module calls with a local source, instantiated with their arguments."""
        out: dict[str, Instance] = {}
        meta = {"source", "count", "for_each", "depends_on", "providers", "version"}
        for name, call in self.module.calls.items():
            if self.count(call, f"module.{name}") == 0:
                continue
            source = (self.module.path / call["source"]).resolve()
            inputs = {k: self.eval(v) for k, v in call.items() if k not in meta}
            out[name] = Instance(Module.load(source), inputs, f"{self.address}/module.{name}")
        return out

    def walk(self) -> Iterator[Instance]:
        """This instance and every descendant."""
        yield self
        for child in self.children().values():
            yield from child.walk()


@pytest.fixture(scope="session")
def localstack_env() -> Instance:
    """``terraform/envs/localstack`` with its default variables."""
    return Instance(Module.load(TERRAFORM / "envs" / "localstack"))


@pytest.fixture(scope="session")
def aws_env() -> Instance:
    """``terraform/envs/aws`` with the variables it requires set."""
    return Instance(
        Module.load(TERRAFORM / "envs" / "aws"),
        {"bucket_name": "shardflow-output-123456789012", "lambda_package_path": "dist/lambda.zip"},
    )


def module_instance(name: str, **inputs: Any) -> Instance:
    """Module ``name`` with its defaults and ``inputs`` (required ones filled with samples)."""
    samples = {
        "stream_arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/shardflow-events",
        "bucket_name": "shardflow-output",
        "package_path": "dist/lambda.zip",
        "name": "shardflow-events",
    }
    module = Module.load(MODULES / name)
    given = {k: v for k, v in samples.items() if k in module.variables}
    given.update(inputs)
    return Instance(module, given)


@pytest.fixture
def module() -> Callable[..., Instance]:
    """Factory: ``module("lambda_consumer", batch_size=10)``."""
    return module_instance


# pytest's importlib mode cannot import a conftest by name; tests import the model as
# ``terraform_model`` (this conftest is loaded before them).
sys.modules.setdefault("terraform_model", sys.modules[__name__])


def readme_tables(name: str) -> str:
    """The Inputs and Outputs tables of module ``name``'s README, generated from its HCL."""
    module = Module.load(MODULES / name)

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def default(spec: dict[str, Any]) -> str:
        if "default" not in spec:
            return "required"
        value = spec["default"]
        if value is None:
            return "`null`"
        if isinstance(value, str):
            return f'`"{value}"`' if not value.startswith("${") else f"`{value[2:-1]}`"
        return f"`{json.dumps(value)}`"

    lines = ["## Inputs", "", "| name | type | default | description |", "|---|---|---|---|"]
    for var, spec in module.variables.items():
        type_ = spec["type"].removeprefix("${").removesuffix("}")
        lines.append(
            f"| `{var}` | `{type_}` | {cell(default(spec))} | {cell(spec['description'])} |"
        )
    lines += ["", "## Outputs", "", "| name | description |", "|---|---|"]
    for output, spec in module.outputs.items():
        lines.append(f"| `{output}` | {cell(spec['description'])} |")
    return "\n".join(lines) + "\n"
