"""The Terraform model the HCL tests evaluate (``tests/support/terraform_model``).

Each test writes a small module tree of its own, so what the model answers is checked
against what Terraform would plan for that code, independently of the project's modules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from terraform_model import EvalError, Instance, Module, Unknown, readme_tables, tf_dirs, tf_files


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


ROOT_TF = """
variable "enabled" {
  type    = bool
  default = true
}

variable "name" {
  type        = string
  description = "the stream's name"
}

variable "shards" {
  type    = number
  default = 2
}

locals {
  prefix   = "sf-${var.name}"
  queues   = var.enabled ? ["dlq", "on-failure"] : []
  arn      = aws_kinesis_stream.this.arn
  combined = merge({ arn = local.arn }, { name = var.name })
}

resource "aws_kinesis_stream" "this" {
  name        = local.prefix
  shard_count = var.shards
}

resource "aws_sqs_queue" "alarm" {
  count = var.enabled ? 1 : 0
  name  = "${local.prefix}-alarm"
}

resource "aws_sqs_queue" "each" {
  for_each = var.enabled ? { dlq = "dlq", on-failure = "on-failure" } : {}
  name     = each.value
}

data "aws_caller_identity" "current" {}

module "child" {
  source = "./child"
  count  = var.enabled ? 1 : 0
  label  = local.prefix
}

output "stream_arn" {
  description = "ARN | of the stream"
  value       = aws_kinesis_stream.this.arn
}
"""

CHILD_TF = """
variable "label" {
  type = string
}

variable "retention" {
  type    = number
  default = null
}

locals {
  upper = "${var.label}-child"
}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return _write(tmp_path / "mod", {"main.tf": ROOT_TF, "child/main.tf": CHILD_TF})


def test_a_module_holds_its_blocks(root: Path) -> None:
    module = Module.load(root)
    assert set(module.variables) == {"enabled", "name", "shards"}
    assert set(module.locals) == {"prefix", "queues", "arn", "combined"}
    assert set(module.outputs) == {"stream_arn"}
    assert set(module.calls) == {"child"}
    assert [b.address for b in module.blocks] == [
        "aws_kinesis_stream.this",
        "aws_sqs_queue.alarm",
        "aws_sqs_queue.each",
        "data.aws_caller_identity.current",
    ]
    assert all(b.file == root / "main.tf" for b in module.blocks)


def test_variables_take_the_input_else_the_default_else_stay_unknown(root: Path) -> None:
    inst = Instance(Module.load(root), {"shards": 4})
    assert inst.variable("shards") == 4
    assert inst.variable("enabled") is True
    assert inst.variable("name") == Unknown("var.name (required)")
    with pytest.raises(EvalError, match=r"var\.nope is not declared"):
        inst.variable("nope")


def test_an_input_the_module_does_not_declare_is_an_error(root: Path) -> None:
    with pytest.raises(EvalError, match=r"no variable\(s\) \['typo'\]"):
        Instance(Module.load(root), {"name": "x", "typo": 1})


def test_locals_are_evaluated_in_the_instances_scope(root: Path) -> None:
    inst = Instance(Module.load(root), {"name": "events"})
    assert inst.local("prefix") == "sf-events"
    assert inst.local("queues") == ["dlq", "on-failure"]
    assert inst.local("arn") == Unknown("aws_kinesis_stream.this.arn")
    combined = inst.local("combined")
    assert combined["name"] == "events"
    assert isinstance(combined["arn"], Unknown)
    assert inst.eval({"n": "${var.shards}", "list": ["${local.prefix}"]}) == {
        "n": 2,
        "list": ["sf-events"],
    }


def test_a_local_that_refers_to_itself_is_an_error(tmp_path: Path) -> None:
    root = _write(tmp_path, {"main.tf": 'locals {\n  a = local.b\n  b = "${local.a}-x"\n}\n'})
    inst = Instance(Module.load(root))
    with pytest.raises(EvalError, match=r"local\.a refers to itself"):
        inst.local("a")


def test_a_failed_local_fails_the_same_way_again(tmp_path: Path) -> None:
    root = _write(tmp_path, {"main.tf": "locals {\n  a = local.missing\n}\n"})
    inst = Instance(Module.load(root))
    for _ in range(2):
        with pytest.raises(EvalError, match=r"local\.missing is not declared"):
            inst.local("a")


def test_count_and_for_each_decide_which_resources_exist(root: Path) -> None:
    on = Instance(Module.load(root), {"name": "x"})
    assert [b.address for b in on.resources("aws_sqs_queue")] == [
        "aws_sqs_queue.alarm",
        "aws_sqs_queue.each",
    ]
    assert [b.address for b in on.resources("aws_caller_identity", kind="data")] == [
        "data.aws_caller_identity.current"
    ]
    each = on.resources("aws_sqs_queue")[1]
    assert on.count(each, each.address) == 2
    off = Instance(Module.load(root), {"name": "x", "enabled": False})
    assert off.resources("aws_sqs_queue") == []
    assert off.resources("aws_kinesis_stream")[0].body["name"] == "${local.prefix}"


def test_a_count_known_only_after_apply_is_an_error(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'resource "aws_sqs_queue" "q" {\n'
            '  count = aws_kinesis_stream.s.arn != "" ? 1 : 0\n'
            "}\n"
        },
    )
    inst = Instance(Module.load(root))
    with pytest.raises(EvalError, match="unknown until apply"):
        inst.resources("aws_sqs_queue")


def test_a_for_each_map_with_unknown_values_has_known_instances(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "main.tf": 'resource "aws_sqs_queue" "q" {\n'
            "  for_each = { a = aws_kinesis_stream.s.arn, b = aws_kinesis_stream.t.arn }\n"
            "}\n"
        },
    )
    inst = Instance(Module.load(root))
    (block,) = inst.resources("aws_sqs_queue")
    assert inst.count(block, block.address) == 2


def test_module_calls_are_instantiated_from_their_source(root: Path) -> None:
    inst = Instance(Module.load(root), {"name": "events"})
    child = inst.children()["child"]
    assert child.module.path == root / "child"
    assert child.variable("label") == "sf-events"
    assert child.variable("retention") is None
    assert child.local("upper") == "sf-events-child"
    assert child.address.endswith("/module.child")
    assert [i.module.path for i in inst.walk()] == [root, root / "child"]
    off = Instance(Module.load(root), {"name": "events", "enabled": False})
    assert off.children() == {}


def test_tf_files_and_dirs_leave_terraforms_own_folder_out(root: Path) -> None:
    _write(root, {".terraform/modules/x/main.tf": "", "examples/basic/main.tf": ""})
    assert tf_files(root) == [
        root / "child/main.tf",
        root / "examples/basic/main.tf",
        root / "main.tf",
    ]
    assert tf_dirs(root) == [root, root / "child", root / "examples/basic"]


def test_readme_tables_list_every_input_and_output(tmp_path: Path) -> None:
    _write(
        tmp_path / "mod",
        {
            "variables.tf": """
variable "name" {
  type        = string
  description = "the stream's name"
}

variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "AWS region"
}

variable "shards" {
  type        = number
  default     = 2
  description = "shards | or ON_DEMAND"
}

variable "kms_key_arn" {
  type        = string
  default     = null
  description = "a key of your own"
}

variable "tags" {
  type        = map(string)
  default     = { team = "data" }
  description = "tags"
}
""",
            "outputs.tf": """
output "stream_arn" {
  description = "the stream's ARN"
  value       = aws_kinesis_stream.this.arn
}
""",
        },
    )
    assert readme_tables("mod", modules=tmp_path).splitlines() == [
        "## Inputs",
        "",
        "| name | type | default | description |",
        "|---|---|---|---|",
        "| `name` | `string` | required | the stream's name |",
        '| `region` | `string` | `"eu-west-1"` | AWS region |',
        "| `shards` | `number` | `2` | shards \\| or ON_DEMAND |",
        "| `kms_key_arn` | `string` | `null` | a key of your own |",
        '| `tags` | `map(string)` | `{"team": "data"}` | tags |',
        "",
        "## Outputs",
        "",
        "| name | description |",
        "|---|---|",
        "| `stream_arn` | the stream's ARN |",
    ]
