"""The Terraform code as a reviewer would check it, without a terraform binary.

Layout (every module has its four files, a README and an example calling ``../../``),
variables (typed, described), outputs (described, prefixed), and the security properties
the modules promise: the event source mapping reports partial failures, bisects and has an
OnFailure destination; no IAM policy allows ``*`` on ``*``; wildcard resources only where
AWS offers no resource-level permission; every checkov skip carries a reason.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from terraform_model import (
    MODULE_NAMES,
    MODULES,
    REPO,
    TERRAFORM,
    EvalError,
    Instance,
    Module,
    Resource,
    is_unknown,
    module_instance,
    parse_file,
    readme_tables,
    tf_dirs,
    tf_files,
)

from shardflow import resources, settings

# --- Layout -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_every_module_has_its_files_readme_and_an_example(name: str) -> None:
    module = MODULES / name
    for required in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module / required).is_file(), f"{name} lacks {required}"
    examples = [p for p in (module / "examples").iterdir() if p.is_dir()]
    assert examples, f"{name} has no example"
    for example in examples:
        calls = Module.load(example).calls
        assert any(call["source"] == "../../" for call in calls.values()), (
            f"{example.relative_to(REPO)} does not call the module with source = ../../"
        )


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_every_module_pins_terraform_and_the_aws_provider(name: str) -> None:
    (block,) = parse_file(MODULES / name / "versions.tf")["terraform"]
    assert block["required_version"].startswith(">=")
    (providers,) = block["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert "<" in providers["aws"]["version"], "an upper bound keeps a major release out"


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_readme_documents_every_variable_and_output(name: str) -> None:
    module = Module.load(MODULES / name)
    readme = (MODULES / name / "README.md").read_text()
    missing = [v for v in [*module.variables, *module.outputs] if f"`{v}`" not in readme]
    assert not missing, f"{name}/README.md does not mention {missing}"


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_readme_tables_are_generated_from_the_hcl(name: str) -> None:
    # SHARDFLOW_UPDATE_TF_DOCS=1 rewrites the tables (everything from "## Inputs" on).
    path = MODULES / name / "README.md"
    text = path.read_text()
    head, _, _ = text.partition("## Inputs")
    expected = head + readme_tables(name)
    if os.environ.get("SHARDFLOW_UPDATE_TF_DOCS") == "1":
        path.write_text(expected)
    assert text == expected, f"{path} is stale: SHARDFLOW_UPDATE_TF_DOCS=1 pytest {__file__}"


def test_every_terraform_directory_parses() -> None:
    dirs = tf_dirs()
    assert TERRAFORM / "envs" / "localstack" in dirs
    assert TERRAFORM / "envs" / "aws" in dirs
    for path in tf_files():
        assert parse_file(path) is not None


# --- Variables and outputs ----------------------------------------------------------------


def _variables() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in tf_dirs():
        for name, spec in Module.load(path).variables.items():
            yield str(path.relative_to(TERRAFORM)), name, spec


def test_every_variable_has_a_type_and_a_description() -> None:
    bad = [
        f"{where}: var.{name}"
        for where, name, spec in _variables()
        if not spec.get("type") or len(str(spec.get("description", ""))) < 10
    ]
    assert not bad, f"variables without type or description: {bad}"


def test_variables_with_a_bounded_domain_are_validated() -> None:
    # Numbers, enumerations and names AWS constrains: a typo should fail at plan time
    # with a message, not at apply time with an API error.
    for path in [*(MODULES / n for n in MODULE_NAMES), *(TERRAFORM / "envs").iterdir()]:
        name = str(path.relative_to(TERRAFORM))
        module = Module.load(path)
        unvalidated = [
            var
            for var, spec in module.variables.items()
            if spec["type"] in ("number", "string") and "validation" not in spec
        ]
        assert not unvalidated, f"{name}: number/string variables without validation: {unvalidated}"


def test_every_output_is_described_and_prefixed() -> None:
    prefixes = {
        "kinesis_stream": ("kinesis_stream_",),
        "lambda_consumer": ("lambda_", "sqs_", "dynamodb_", "kms_"),
        "kcl_consumer": ("kcl_",),
        "s3_output": ("s3_", "glue_", "athena_"),
    }
    for name in MODULE_NAMES:
        for output, spec in Module.load(MODULES / name).outputs.items():
            assert len(spec.get("description", "")) >= 10, f"{name}: output {output} undescribed"
            assert output.startswith(prefixes[name]), f"{name}: output {output} not prefixed"


def test_module_defaults_are_shardflows_resource_names() -> None:
    defaults = {
        ("lambda_consumer", "function_name"): resources.LAMBDA_FUNCTION,
        ("lambda_consumer", "dead_letter_queue_name"): resources.DEAD_LETTER_QUEUE,
        ("lambda_consumer", "on_failure_queue_name"): resources.ON_FAILURE_QUEUE,
        ("lambda_consumer", "idempotency_table_name"): resources.IDEMPOTENCY_TABLE,
        ("lambda_consumer", "attempts_table_name"): resources.ATTEMPTS_TABLE,
        ("lambda_consumer", "checkpoint_table_name"): resources.CHECKPOINT_TABLE,
        ("lambda_consumer", "output_prefix"): resources.OUTPUT_PREFIX,
        ("lambda_consumer", "errors_prefix"): resources.ERRORS_PREFIX,
        ("kcl_consumer", "application_name"): resources.KCL_APPLICATION,
        ("kcl_consumer", "output_prefix"): resources.OUTPUT_PREFIX,
        ("kcl_consumer", "errors_prefix"): resources.ERRORS_PREFIX,
        ("s3_output", "output_prefix"): resources.OUTPUT_PREFIX,
        ("s3_output", "errors_prefix"): resources.ERRORS_PREFIX,
        ("s3_output", "glue_database_name"): resources.GLUE_DATABASE,
        ("s3_output", "glue_table_name"): resources.GLUE_TABLE,
        ("s3_output", "athena_workgroup_name"): resources.ATHENA_WORKGROUP,
        ("s3_output", "athena_results_prefix"): resources.ATHENA_RESULTS_PREFIX,
    }
    for (name, var), expected in defaults.items():
        assert Module.load(MODULES / name).variables[var]["default"] == expected, (name, var)


def test_tables_have_the_key_attributes_the_code_uses(module: Callable[..., Instance]) -> None:
    inst = module("lambda_consumer", create_checkpoint_table=True)
    tables = {inst.eval(t.body["name"]): t.body for t in inst.resources("aws_dynamodb_table")}
    idem = tables[resources.IDEMPOTENCY_TABLE]
    assert idem["hash_key"] == resources.IDEMPOTENCY_KEY_ATTR
    assert idem["ttl"][0]["attribute_name"] == resources.IDEMPOTENCY_TTL_ATTR
    attempts = tables[resources.ATTEMPTS_TABLE]
    assert attempts["hash_key"] == resources.ATTEMPTS_KEY_ATTR
    assert attempts["ttl"][0]["attribute_name"] == resources.ATTEMPTS_TTL_ATTR
    checkpoints = tables[resources.CHECKPOINT_TABLE]
    assert (checkpoints["hash_key"], checkpoints["range_key"]) == (
        resources.CHECKPOINT_HASH_KEY,
        resources.CHECKPOINT_RANGE_KEY,
    )
    kcl = module("kcl_consumer")
    lease = next(t.body for t in kcl.resources("aws_dynamodb_table") if t.name == "lease")
    assert lease["hash_key"] == resources.KCL_LEASE_KEY_ATTR
    (index,) = lease["global_secondary_index"]
    assert (index["name"], index["hash_key"], index["range_key"], index["projection_type"]) == (
        resources.KCL_LEASE_OWNER_INDEX,
        resources.KCL_LEASE_OWNER_ATTR,
        resources.KCL_LEASE_KEY_ATTR,
        "KEYS_ONLY",
    )
    names = {kcl.eval(t.body["name"]) for t in kcl.resources("aws_dynamodb_table")}
    app = resources.KCL_APPLICATION
    assert names == {
        app,
        app + resources.KCL_COORDINATOR_STATE_SUFFIX,
        app + resources.KCL_WORKER_METRICS_SUFFIX,
    }


# --- The event source mapping and the function's environment --------------------------------


def _mapping(inst: Instance) -> dict[str, Any]:
    (mapping,) = inst.resources("aws_lambda_event_source_mapping")
    return mapping.body


def test_mapping_reports_partial_failures_bisects_and_has_an_on_failure_queue(
    module: Callable[..., Instance],
) -> None:
    inst = module("lambda_consumer")
    mapping = _mapping(inst)
    assert inst.eval(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    assert inst.eval(mapping["bisect_batch_on_function_error"]) is True
    (destination,) = mapping["destination_config"]
    (on_failure,) = destination["on_failure"]
    target = on_failure["destination_arn"]
    assert target == "${aws_sqs_queue.on_failure.arn}"
    queues = {q.name for q in inst.resources("aws_sqs_queue")}
    assert "on_failure" in queues


def test_each_mapping_setting_is_the_variable_the_local_runner_reads(
    module: Callable[..., Instance],
) -> None:
    # SHARDFLOW_BATCH_SIZE <-> variable batch_size <-> mapping attribute batch_size, so a
    # local run configured from the module's output behaves like the deployed mapping.
    inst = module("lambda_consumer")
    mapping = _mapping(inst)
    runner_env = inst.module.locals["event_source_mapping_environment"]
    for env_name in settings.EVENT_SOURCE_MAPPING_VARIABLES:
        var = env_name.removeprefix("SHARDFLOW_").lower()
        assert var in inst.module.variables, f"no variable {var} for {env_name}"
        assert var in mapping, f"the mapping does not set {var}"
        assert f"var.{var}" in mapping[var], f"mapping.{var} is not var.{var}"
        assert f"var.{var}" in runner_env[env_name], f"{env_name} is not var.{var}"
    assert set(runner_env) == set(settings.EVENT_SOURCE_MAPPING_VARIABLES)


#: Variables the handler reads that the module leaves to the code's defaults: the S3 sink's
#: buffer limits (a Lambda batch is far below them) and the function's name, which Lambda
#: itself sets (and reserves).
_HANDLER_VARIABLES_NOT_SET = frozenset(
    {
        settings.SINK_MAX_BYTES,
        settings.SINK_MAX_RECORDS,
        settings.SINK_MAX_SPAN_SECONDS,
        settings.DATA_SCHEMA,
        settings.LAMBDA_FUNCTION_NAME,
    }
)


#: The Iceberg table's settings the module sets with output_format iceberg.
_ICEBERG_VARIABLES = (
    settings.ICEBERG_CATALOG,
    settings.ICEBERG_TABLE,
    settings.ICEBERG_WAREHOUSE,
)
#: Read by the Iceberg output, left unset: the SQL catalog's URI (the function commits
#: through Glue; the SQL catalog is the local one).
_LOCAL_ICEBERG_VARIABLES = frozenset({settings.ICEBERG_CATALOG_URI})


def _variables_read(paths: list[Path]) -> set[str]:
    """Environment variables the code reads: ``settings.<NAME>`` constants and literal names
    passed to ``settings.env*``."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "settings"
                and isinstance(getattr(settings, node.attr, None), str)
                and node.attr.isupper()
            ):
                value = getattr(settings, node.attr)
                if re.fullmatch(r"[A-Z][A-Z0-9_]+", value) and value not in _NOT_VARIABLES:
                    names.add(value)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("env")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


#: settings constants that are values, not variable names.
_NOT_VARIABLES = frozenset({settings.DEFAULT_REGION, settings.LOCAL_HOST})


def test_function_environment_is_what_the_handler_reads(module: Callable[..., Instance]) -> None:
    inst = module("lambda_consumer")
    (function,) = inst.resources("aws_lambda_function")
    assert function.body["environment"][0]["variables"] == "${local.handler_environment}"
    assert function.body["handler"] == "${var.handler}"
    assert inst.variable("handler") == "consumers.lambda_handler.handler"
    env = inst.local("handler_environment")
    # What the deployed code reads: the handler and the consumer core it uses (not the
    # local-only resources.py, nor the command-line helpers the function never imports).
    code = [
        p
        for pattern in (
            "consumers/lambda_handler/*.py",
            "consumers/sink/*.py",
            "consumers/sink/iceberg/*.py",
            "consumers/idempotency/*.py",
            "consumers/*.py",
        )
        for p in sorted(REPO.glob(pattern))
        if p.name
        not in (
            "resources.py",
            "localquery.py",
            "deadletter_queue.py",
            "output_options.py",
            "query.py",  # consumers/sink/iceberg/query.py: `shardflow query` only
        )
    ]
    read = _variables_read(code)
    assert {settings.BUCKET, settings.OUTPUT_FORMAT, "SHARDFLOW_LOG_LEVEL"} <= read  # not vacuous
    assert settings.ICEBERG_TABLE in read
    not_set = _HANDLER_VARIABLES_NOT_SET | _LOCAL_ICEBERG_VARIABLES
    assert set(env) == read - not_set, (
        f"set, never read: {sorted(set(env) - read)}; "
        f"read, not set: {sorted(read - not_set - set(env))}"
    )
    # The Iceberg settings are set with output_format iceberg, empty (the code's default)
    # otherwise.
    iceberg = module("lambda_consumer", output_format="iceberg", iceberg_table="orders.events")
    iceberg_env = iceberg.local("handler_environment")
    assert set(iceberg_env) == set(env)
    assert {k: iceberg_env[k] for k in _ICEBERG_VARIABLES} == {
        settings.ICEBERG_CATALOG: "glue",
        settings.ICEBERG_TABLE: "orders.events",
        settings.ICEBERG_WAREHOUSE: "s3://shardflow-output/events",
    }
    assert {k: env[k] for k in _ICEBERG_VARIABLES} == dict.fromkeys(_ICEBERG_VARIABLES, "")
    docs = (REPO / "docs" / "iceberg.md").read_text()
    for name in _LOCAL_ICEBERG_VARIABLES:
        assert f"| `{name}` |" in docs, f"{name} is left to its default but not documented"
    assert set(settings.LAMBDA_HANDLER_VARIABLES) <= set(env)
    # The sink's buffer limits are documented with the consumer core, in its settings table.
    docs = (REPO / "docs" / "consumers.md").read_text()
    for name in _HANDLER_VARIABLES_NOT_SET - {settings.LAMBDA_FUNCTION_NAME}:
        assert f"| `{name}` |" in docs, f"{name} is left to its default but not documented"
    # Variables of the local runner that are not the function's are in the runner's output.
    runner = inst.module.locals["local_runner_environment"]
    for name in (settings.STREAM, settings.ON_FAILURE_QUEUE_URL, settings.CHECKPOINT_TABLE):
        assert name in runner


def _set_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    """The process environment is exactly the SHARDFLOW_/AWS_LAMBDA_ variables of ``env``."""
    for name in list(os.environ):
        if name.startswith(("SHARDFLOW_", "POWERTOOLS_", "AWS_LAMBDA_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_the_handler_configured_by_the_module_has_the_modules_settings(
    module: Callable[..., Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consumers.lambda_handler.config import HandlerConfig

    inputs = {
        "bucket_name": "sf-out",
        "output_prefix": "data/events",
        "errors_prefix": "data/errors",
        "output_format": "jsonl",
        "idempotency_ttl_seconds": 7200,
        "idempotency_in_progress_expiry_seconds": 90,
        "max_attempts": 7,
        "attempts_ttl_seconds": 86400,
        "metrics_namespace": "orders",
        "tracing_enabled": True,
        "processor": "app.events:handle",
        "log_level": "DEBUG",
    }
    inst = module("lambda_consumer", **inputs)
    env = inst.local("handler_environment")
    # Known after apply: what AWS names when it creates the queue and tables.
    unknown = {k for k, v in env.items() if is_unknown(v)}
    assert unknown == {
        settings.DLQ_URL,
        settings.IDEMPOTENCY_TABLE,
        settings.ATTEMPTS_TABLE,
    }
    env |= {
        settings.DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/shardflow-dlq",
        settings.IDEMPOTENCY_TABLE: inst.variable("idempotency_table_name"),
        settings.ATTEMPTS_TABLE: inst.variable("attempts_table_name"),
    }
    _set_environment(monkeypatch, env)
    config = HandlerConfig.from_env()
    assert (config.bucket, config.sink.prefix, config.errors_prefix, config.sink.format) == (
        "sf-out",
        "data/events",
        "data/errors",
        "jsonl",
    )
    assert config.dlq_url == env[settings.DLQ_URL]
    assert config.idempotency_table == resources.IDEMPOTENCY_TABLE
    assert config.attempts_table == resources.ATTEMPTS_TABLE
    assert config.idempotency_ttl_seconds == 7200
    assert config.idempotency_in_progress_expiry_seconds == 90
    assert (config.max_attempts, config.attempts_ttl_seconds) == (7, 86400)
    assert (config.metrics_namespace, config.tracing) == ("orders", True)
    assert config.processor == "app.events:handle"
    assert config.service == resources.LAMBDA_FUNCTION
    assert os.environ["SHARDFLOW_LOG_LEVEL"] == "DEBUG"
    # Unset optional settings ("" in the environment) fall back to the handler's defaults.
    defaults = module("lambda_consumer").local("handler_environment")
    _set_environment(monkeypatch, {k: v for k, v in defaults.items() if not is_unknown(v)})
    config = HandlerConfig.from_env()
    assert config.processor is None
    assert config.idempotency_in_progress_expiry_seconds is None


def test_the_local_runner_configured_by_the_module_output_is_the_deployed_mapping(
    module: Callable[..., Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions

    inst = module(
        "lambda_consumer",
        function_name="orders-consumer",
        timeout=300,
        batch_size=500,
        maximum_batching_window_in_seconds=5,
        starting_position="AT_TIMESTAMP",
        starting_position_timestamp="2026-01-31T00:00:00Z",
        bisect_batch_on_function_error=False,
        maximum_retry_attempts=10,
        maximum_record_age_in_seconds=86400,
        create_checkpoint_table=True,
    )
    env = inst.local("local_runner_environment")
    # Known after apply: what AWS names when it creates the queues and tables.
    assert {k for k, v in env.items() if is_unknown(v)} == {
        settings.DLQ_URL,
        settings.IDEMPOTENCY_TABLE,
        settings.ATTEMPTS_TABLE,
        settings.ON_FAILURE_QUEUE_URL,
        settings.CHECKPOINT_TABLE,
    }
    env |= {
        settings.DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/shardflow-dlq",
        settings.IDEMPOTENCY_TABLE: resources.IDEMPOTENCY_TABLE,
        settings.ATTEMPTS_TABLE: resources.ATTEMPTS_TABLE,
        settings.ON_FAILURE_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/f",
        settings.CHECKPOINT_TABLE: inst.variable("checkpoint_table_name"),
    }
    _set_environment(monkeypatch, env)
    mapping_block = _mapping(inst)
    config = MappingConfig.from_env()
    for field in (
        "batch_size",
        "maximum_batching_window_in_seconds",
        "starting_position",
        "parallelization_factor",
        "bisect_batch_on_function_error",
        "maximum_retry_attempts",
        "maximum_record_age_in_seconds",
    ):
        assert getattr(config, field) == inst.eval(mapping_block[field]), field
    assert config.starting_position_timestamp is not None
    assert config.starting_position_timestamp.isoformat() == "2026-01-31T00:00:00+00:00"
    assert config.report_batch_item_failures is True  # function_response_types, always
    assert config.on_failure_queue_url == env[settings.ON_FAILURE_QUEUE_URL]
    assert env[settings.STREAM] == resources.STREAM  # the stream of stream_arn
    options = RunnerOptions.from_env()
    # The function's name keys the idempotency records, attempt counts and checkpoints.
    assert options.function_name == "orders-consumer"
    assert options.function_timeout_seconds == 300
    assert options.checkpoint_table == resources.CHECKPOINT_TABLE


def test_mapping_defaults_are_the_local_runners_except_bisect(
    module: Callable[..., Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shardflow_tools.lambda_esm.config import MappingConfig

    _set_environment(monkeypatch, {})
    runner = MappingConfig.from_env()
    inst = module("lambda_consumer")
    for env_name in settings.EVENT_SOURCE_MAPPING_VARIABLES:
        var = env_name.removeprefix("SHARDFLOW_").lower()
        if var == "bisect_batch_on_function_error":
            # Lambda's API default (and the runner's) is off; the module turns it on.
            assert inst.variable(var) is True and runner.bisect_batch_on_function_error is False
            continue
        assert inst.variable(var) == getattr(runner, var), var


def _preconditions(inst: Instance, block: Resource) -> list[str]:
    return [
        p["condition"]
        for life in block.body.get("lifecycle", [])
        for p in life.get("precondition", [])
    ]


def test_the_default_handler_refuses_concurrent_batches_of_a_shard(
    module: Callable[..., Instance],
) -> None:
    # As `shardflow consume lambda` does: one S3 sink writer per shard.
    def holds(**inputs: Any) -> bool:
        inst = module("lambda_consumer", **inputs)
        (mapping,) = inst.resources("aws_lambda_event_source_mapping")
        return all(inst.eval(c) is True for c in _preconditions(inst, mapping))

    assert holds()
    assert not holds(parallelization_factor=2)
    assert holds(parallelization_factor=2, handler="app.handler.handler")


def test_examples_and_environments_meet_every_precondition_known_at_plan_time() -> None:
    tops = [Instance(Module.load(p)) for p in tf_dirs() if p.parent.name in ("examples", "envs")]
    checked = 0
    for top in tops:
        for inst in top.walk():
            for block in inst.module.blocks:
                try:
                    if inst.count(block, block.address) == 0:
                        continue
                except EvalError:
                    continue  # an example's required input decides it
                for condition in _preconditions(inst, block):
                    value = inst.eval(condition)
                    checked += 1
                    assert is_unknown(value) or value is True, (
                        f"{inst.address}: {block.address}: {condition} is false"
                    )
    assert checked > 10


def test_the_aws_environment_wires_the_iceberg_output() -> None:
    inputs = {
        "bucket_name": "shardflow-output-123456789012",
        "lambda_package_path": "dist/lambda.zip",
        "output_format": "iceberg",
        "deploy_kcl_consumer": True,
    }
    env = Instance(Module.load(TERRAFORM / "envs" / "aws"), inputs)
    children = env.children()
    output, function = children["output"], children["lambda_consumer"]
    assert output.variable("table_format") == "iceberg"
    assert output.variable("output_format") == "parquet"
    table = output.local("iceberg_table")
    assert table == "shardflow.events"
    assert function.variable("iceberg_table") == table
    assert children["kcl_consumer"].variable("iceberg_table") == table
    assert function.local("handler_environment")[settings.ICEBERG_TABLE] == table
    assert output.resources("aws_athena_named_query")
    for inst in env.walk():
        for block in inst.module.blocks:
            if inst.count(block, block.address):
                for condition in _preconditions(inst, block):
                    value = inst.eval(condition)
                    assert is_unknown(value) or value is True, f"{block.address}: {condition}"
    # The Hive default keeps the consumers off Glue.
    hive = Instance(Module.load(TERRAFORM / "envs" / "aws"), {**inputs, "output_format": "parquet"})
    assert hive.children()["output"].variable("table_format") == "hive"
    assert hive.children()["kcl_consumer"].variable("iceberg_table") is None


def test_function_package_is_an_input_and_required_when_deploying(
    module: Callable[..., Instance],
) -> None:
    inst = module("lambda_consumer")
    (function,) = inst.resources("aws_lambda_function")
    assert function.body["filename"] == "${var.package_path}"
    assert "var.package_path" in function.body["source_code_hash"]
    conditions = [p["condition"] for p in function.body["lifecycle"][0]["precondition"]]
    assert any("var.package_path != null" in c for c in conditions)
    without = module("lambda_consumer", create_function=False, package_path=None)
    assert without.resources("aws_lambda_function") == []
    assert without.resources("aws_lambda_event_source_mapping") == []
    assert without.resources("aws_iam_role") == []
    assert len(without.resources("aws_dynamodb_table")) == 2


def test_function_defaults_match_what_shardflow_package_lambda_builds(
    module: Callable[..., Instance],
) -> None:
    from shardflow_tools.packaging import DEFAULT_OUTPUT, PackageOptions

    inst = module("lambda_consumer")
    options = PackageOptions()
    assert inst.variable("runtime") == f"python{options.python_version}"
    assert inst.variable("architecture") == "x86_64"
    assert options.platform.endswith("x86_64")
    example = Module.load(MODULES / "lambda_consumer" / "examples" / "complete")
    (call,) = example.calls.values()
    assert call["package_path"].endswith(str(DEFAULT_OUTPUT))


def test_retries_cannot_discard_a_record_before_the_handler_dead_letters_it(
    module: Callable[..., Instance],
) -> None:
    mapping = _mapping(module("lambda_consumer"))
    conditions = [p["condition"] for p in mapping["lifecycle"][0]["precondition"]]
    expected = "var.maximum_retry_attempts == -1 || var.maximum_retry_attempts >= var.max_attempts"
    assert expected in [c.strip("${}") for c in conditions]


def test_filter_criteria_appear_only_when_patterns_are_given(
    module: Callable[..., Instance],
) -> None:
    mapping = _mapping(module("lambda_consumer"))
    (dynamic,) = [d for d in mapping["dynamic"] if "filter_criteria" in d]
    for_each = dynamic["filter_criteria"]["for_each"]
    assert module("lambda_consumer").eval(for_each) == []
    assert module("lambda_consumer", filter_patterns=['{"data": {"type": ["a"]}}']).eval(
        for_each
    ) == [1]


# --- IAM -----------------------------------------------------------------------------------

#: Actions that have no resource-level permissions: "*" is the only resource they take.
_UNRESTRICTABLE = frozenset(
    {"cloudwatch:PutMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
_POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_iam_role": "assume_role_policy",
    "aws_kms_key": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sqs_queue_policy": "policy",
}


def _instances() -> list[Instance]:
    """Every module with defaults and its feature flags on, plus both environments."""
    out = [
        Instance(Module.load(TERRAFORM / "envs" / "localstack")),
    ]
    out += [
        module_instance("kinesis_stream", create_alarm_topic=True),
        module_instance("lambda_consumer", tracing_enabled=True, subnet_ids=["subnet-1"]),
        module_instance(
            "kcl_consumer",
            enhanced_fan_out=True,
            create_tables=False,
            bucket_name="b-bucket",
            dead_letter_queue_arn="arn:aws:sqs:eu-west-1:123456789012:q",
        ),
        module_instance("kcl_consumer"),
        module_instance("s3_output"),
        # The Iceberg output.
        module_instance("lambda_consumer", output_format="iceberg"),
        module_instance("kcl_consumer", bucket_name="b-bucket", iceberg_table="shardflow.events"),
        module_instance("s3_output", table_format="iceberg"),
    ]
    return out


def _statements(inst: Instance, doc: Resource) -> Iterator[dict[str, Any]]:
    yield from doc.body.get("statement", [])
    for dynamic in doc.body.get("dynamic", []):
        if "statement" in dynamic:
            for_each = inst.eval(dynamic["statement"]["for_each"])
            if is_unknown(for_each) or for_each:
                yield from dynamic["statement"]["content"]


def _key_policy_documents(inst: Instance) -> set[str]:
    return {
        m.group(1)
        for key in inst.module.blocks
        if key.type == "aws_kms_key"
        for m in [re.search(r"aws_iam_policy_document\.(\w+)", key.body.get("policy", ""))]
        if m
    }


def test_every_policy_is_a_policy_document_so_the_checks_below_see_it() -> None:
    for path in tf_dirs():
        for block in Module.load(path).blocks:
            attribute = _POLICY_ATTRIBUTES.get(block.type)
            if attribute and attribute in block.body:
                assert re.fullmatch(
                    r"\$\{data\.aws_iam_policy_document\.\w+(\[[^\]]+\])?\.json\}",
                    block.body[attribute],
                ), f"{path.relative_to(TERRAFORM)}: {block.address}.{attribute} is not a document"


def test_no_policy_allows_every_action_on_every_resource() -> None:
    for top in _instances():
        for inst in top.walk():
            key_docs = _key_policy_documents(inst)
            for doc in inst.resources("aws_iam_policy_document", kind="data"):
                for statement in _statements(inst, doc):
                    if inst.eval(statement.get("effect", "Allow")) != "Allow":
                        continue
                    actions = inst.eval(statement.get("actions", []))
                    targets = inst.eval(statement.get("resources", []))
                    if not isinstance(targets, list):
                        targets = [targets]  # an ARN known after apply
                    where = f"{inst.address} {doc.address} {statement.get('sid')}"
                    assert not is_unknown(actions), f"{where}: actions unknown at plan time"
                    assert not ("*" in actions and "*" in targets), f"{where}: * on *"
                    if "*" not in targets:
                        continue
                    if doc.name in key_docs:
                        # In a key policy "*" is the key itself.
                        continue
                    broad = set(actions) - _UNRESTRICTABLE
                    assert not broad, f"{where}: {sorted(broad)} on resource *"
                    assert not any(a.endswith(":*") for a in actions), f"{where}: wildcard"


def test_consumer_roles_write_only_below_their_prefixes(module: Callable[..., Instance]) -> None:
    for name in ("lambda_consumer", "kcl_consumer"):
        inst = module(name)
        writes = [
            statement
            for doc in inst.resources("aws_iam_policy_document", "data")
            for statement in _statements(inst, doc)
            if "s3:PutObject" in inst.eval(statement["actions"])
        ]
        (statement,) = writes
        assert statement["resources"] == [
            "${local.bucket_arn}/${var.output_prefix}/*",
            "${local.bucket_arn}/${var.errors_prefix}/*",
        ], name


def test_consumer_roles_may_read_list_and_delete_only_the_sinks_own_objects(
    module: Callable[..., Instance],
) -> None:
    from consumers.sink.layout import MANIFESTS_DIR

    for name, inputs in (("lambda_consumer", {}), ("kcl_consumer", {"bucket_name": "b-bucket"})):
        inst = module(name, **inputs)
        statements = {
            s.get("sid"): s
            for doc in inst.resources("aws_iam_policy_document", "data")
            for s in _statements(inst, doc)
        }
        manifests = f"${{local.bucket_arn}}/${{var.output_prefix}}/{MANIFESTS_DIR}/*"
        assert statements["ReadOwnManifests"]["resources"] == [manifests], name
        listing = statements["ListOwnManifests"]
        assert listing["condition"][0]["values"] == [f"${{var.output_prefix}}/{MANIFESTS_DIR}/*"]
        deletes = statements["ReplaceOwnOutputOnReplay"]
        assert deletes["resources"] == ["${local.bucket_arn}/${var.output_prefix}/*"], name


def test_handler_settings_default_as_in_the_handler(module: Callable[..., Instance]) -> None:
    from consumers.lambda_handler import config

    env = module("lambda_consumer").local("handler_environment")
    assert env[settings.MAX_ATTEMPTS] == str(config.DEFAULT_MAX_ATTEMPTS)
    assert env[settings.IDEMPOTENCY_TTL_SECONDS] == str(config.DEFAULT_IDEMPOTENCY_TTL_SECONDS)
    assert env[settings.ATTEMPTS_TTL_SECONDS] == str(config.DEFAULT_ATTEMPTS_TTL_SECONDS)
    assert env[settings.METRICS_NAMESPACE] == config.DEFAULT_METRICS_NAMESPACE
    assert env[settings.TRACING] == "false"


# --- Encryption ----------------------------------------------------------------------------


def test_everything_that_stores_data_is_encrypted_with_a_customer_managed_key(
    module: Callable[..., Instance],
) -> None:
    checks: dict[str, Callable[[Instance, dict[str, Any]], bool]] = {
        "aws_kinesis_stream": lambda i, b: (
            b["encryption_type"] == "KMS" and b["kms_key_id"] == "${local.kms_key_arn}"
        ),
        "aws_dynamodb_table": lambda i, b: (
            i.eval(b["server_side_encryption"][0]["enabled"]) is True
            and b["server_side_encryption"][0]["kms_key_arn"] == "${local.kms_key_arn}"
        ),
        "aws_sqs_queue": lambda i, b: b["kms_master_key_id"] == "${local.kms_key_arn}",
        "aws_sns_topic": lambda i, b: b["kms_master_key_id"] == "${local.kms_key_arn}",
        "aws_cloudwatch_log_group": lambda i, b: b["kms_key_id"] == "${local.kms_key_arn}",
        "aws_lambda_function": lambda i, b: b["kms_key_arn"] == "${local.kms_key_arn}",
    }
    instances = [
        module("kinesis_stream", create_alarm_topic=True),
        module("lambda_consumer", create_checkpoint_table=True),
        module("kcl_consumer"),
        module("s3_output"),
    ]
    seen: set[str] = set()
    for inst in instances:
        (key,) = inst.resources("aws_kms_key")
        assert key.body["enable_key_rotation"] is True
        for type_, check in checks.items():
            for block in inst.resources(type_):
                seen.add(type_)
                assert check(inst, block.body), f"{inst.address}: {block.address} not encrypted"
        for table in inst.resources("aws_dynamodb_table"):
            pitr = table.body["point_in_time_recovery"][0]["enabled"]
            assert inst.eval(pitr) is True, f"{table.address} has no PITR"
    assert seen == set(checks)
    s3 = module("s3_output")
    (sse,) = s3.resources("aws_s3_bucket_server_side_encryption_configuration")
    default = sse.body["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    (workgroup,) = s3.resources("aws_athena_workgroup")
    results = workgroup.body["configuration"][0]["result_configuration"][0]
    assert results["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"
    assert workgroup.body["configuration"][0]["enforce_workgroup_configuration"] is True


def test_bucket_is_private_versioned_and_tls_only(module: Callable[..., Instance]) -> None:
    inst = module("s3_output")
    (block,) = inst.resources("aws_s3_bucket_public_access_block")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
    assert all(block.body[f] is True for f in (*flags, "restrict_public_buckets"))
    (versioning,) = inst.resources("aws_s3_bucket_versioning")
    assert versioning.body["versioning_configuration"][0]["status"] == "Enabled"
    (doc,) = [d for d in inst.resources("aws_iam_policy_document", "data") if d.name == "bucket"]
    denies = {
        (s["condition"][0]["variable"], s["condition"][0]["values"][0])
        for s in doc.body["statement"]
        if s.get("effect") == "Deny"
    }
    assert denies == {("aws:SecureTransport", "false"), ("s3:TlsVersion", "1.2")}
    (lifecycle,) = inst.resources("aws_s3_bucket_lifecycle_configuration")
    rules = {r["id"]: r for r in lifecycle.body["rule"]}
    errors_rule = rules["expire-errors"]
    assert inst.eval(errors_rule["filter"][0]["prefix"]) == "errors/"
    assert inst.eval(errors_rule["expiration"][0]["days"]) == 30


def test_count_of_optional_key_does_not_depend_on_values_known_after_apply(
    localstack_env: Instance, aws_env: Instance
) -> None:
    # Passing a key created in the same apply must not make any count unknown at plan time
    # (the reason for create_kms_key next to kms_key_arn).
    for top in (localstack_env, aws_env):
        for inst in top.walk():
            for block in inst.module.blocks:
                inst.count(block, block.address)


# --- checkov skips -------------------------------------------------------------------------


def test_every_checkov_skip_gives_a_reason() -> None:
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    found = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for m in pattern.finditer(line):
                found += 1
                reason = (m.group(2) or "").strip()
                assert len(reason) >= 20, f"{path}:{number}: {m.group(1)} skipped without reason"
    assert found > 0


def test_terraform_files_are_formatted_like_terraform_fmt() -> None:
    # terraform fmt is not installed everywhere; this checks what it would change most
    # often: two-space indentation and aligned "=" in runs of one-line attributes.
    problems: list[str] = []
    for path in tf_files():
        problems += _format_problems(path)
    assert not problems, "\n".join(problems[:20])


_ATTR = re.compile(r"^(\s*)([\w\"\-.]+)(\s*)=(?!=)\s*(.*)$")
_BLOCK = re.compile(r"^\s*[\w-]+(\s+\"[^\"]*\")*\s*\{\s*$")


def _net(line: str) -> int:
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.split(" #", maxsplit=1)[0])
    return sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")


def _format_problems(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    problems = [
        f"{path}:{n}: indentation or trailing space"
        for n, line in enumerate(lines, 1)
        if (len(line) - len(line.lstrip(" "))) % 2 or "\t" in line or line != line.rstrip()
    ]
    group: list[tuple[int, re.Match[str]]] = []

    def flush() -> None:
        width = max((len(m.group(2)) for _, m in group), default=0)
        for n, m in group:
            if len(m.group(3)) != width - len(m.group(2)) + 1:
                problems.append(f"{path}:{n}: '=' not aligned with its neighbours")
        group.clear()

    # A stack of what encloses the line: "body" (block or object: attributes aligned) or
    # "value" (list or call spanning lines: not checked).
    stack: list[str] = []
    for n, line in enumerate(lines, 1):
        in_value = bool(stack) and stack[-1] == "value"
        net = _net(line)
        m = _ATTR.match(line)
        if in_value:
            flush()
            for _ in range(max(net, 0)):
                stack.append("value")
            for _ in range(max(-net, 0)):
                stack.pop()
            continue
        if m and net == 0:
            if group and len(group[0][1].group(1)) != len(m.group(1)):
                flush()
            group.append((n, m))
            continue
        flush()
        if m and net > 0:
            if m.group(3) != " ":
                problems.append(f"{path}:{n}: one space before '=' of a multi-line value")
            stack.append("body" if line.rstrip().endswith("{") else "value")
            stack.extend("value" for _ in range(net - 1))
        elif _BLOCK.match(line):
            stack.append("body")
        elif net < 0:
            for _ in range(-net):
                if stack:
                    stack.pop()
    flush()
    return problems
