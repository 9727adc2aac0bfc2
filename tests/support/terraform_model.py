"""A small model of the Terraform code, for tests that run without a terraform binary.

python-hcl2 parses the files; :class:`Module` holds one directory's blocks and
:class:`Instance` a module with its input values, evaluating expressions in its scope with
:mod:`hcl_expressions`, with module calls instantiated recursively from their local
``source``. Anything that is only known after apply (a resource attribute, another module's
output) evaluates to :class:`Unknown`; a ``count`` that is unknown at plan time is an
error, as it is for Terraform.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from hcl_expressions import EvalError, Unknown, eval_template, is_unknown

__all__ = [
    "MODULES",
    "MODULE_NAMES",
    "REPO",
    "TERRAFORM",
    "EvalError",
    "Instance",
    "Module",
    "Resource",
    "Unknown",
    "is_unknown",
    "module_instance",
    "parse_file",
    "readme_tables",
    "tf_dirs",
    "tf_files",
]

REPO = Path(__file__).resolve().parents[2]
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
        path = module.path
        self.address = address or str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
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
        """``var.NAME``: the input given, else the default, else :class:`Unknown`."""
        if name not in self._vars:
            raise EvalError(f"{self.address}: var.{name} is not declared")
        return self._vars[name]

    def local(self, name: str) -> Any:
        """``local.NAME``, evaluated once (a local that refers to itself is an error)."""
        if name not in self._locals:
            if name not in self.module.locals:
                raise EvalError(f"{self.address}: local.{name} is not declared")
            if name in self._evaluating:
                raise EvalError(f"{self.address}: local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._locals[name] = self.eval(self.module.locals[name])
            finally:
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
        """The value of a string attribute: a lone ``${expr}`` or a template."""
        return eval_template(text, self)

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


def readme_tables(name: str, modules: Path = MODULES) -> str:
    """The Inputs and Outputs tables of module ``name``'s README, generated from its HCL."""
    module = Module.load(modules / name)

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
