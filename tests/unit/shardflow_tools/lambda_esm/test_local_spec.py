"""What a local run creates, as bootstrap's spec: named by the configuration, one path."""

from __future__ import annotations

from consumers.lambda_handler import HandlerConfig
from shardflow import resources
from shardflow_tools.bootstrap import KeySpec, QueueSpec, checkpoint_table
from shardflow_tools.lambda_esm import MappingConfig, RunnerOptions
from shardflow_tools.lambda_esm.local import handler_config, local_run_spec
from shardflow_tools.lambda_esm.resources import dead_letter_queue_name, handler_spec

QUEUE_URL = "http://127.0.0.1:4566/123456789012/{name}"


def test_handler_spec_names_what_the_configuration_names() -> None:
    config = HandlerConfig(bucket="b", idempotency_table="idem", attempts_table="att", dlq_url=None)
    spec = handler_spec(config)
    assert spec.key is None
    assert [b.name for b in spec.buckets] == ["b"]
    assert [q.name for q in spec.queues] == [resources.DEAD_LETTER_QUEUE]
    tables = {t.name: t for t in spec.tables}
    assert set(tables) == {"idem", "att"}
    assert tables["idem"].ttl_attribute == resources.IDEMPOTENCY_TTL_ATTR
    assert tables["att"].hash_key == resources.ATTEMPTS_KEY_ATTR
    assert tables["att"].ttl_attribute == resources.ATTEMPTS_TTL_ATTR


def test_handler_spec_without_idempotency_has_no_idempotency_table() -> None:
    spec = handler_spec(HandlerConfig(idempotency_table=None, attempts_table="att"))
    assert [t.name for t in spec.tables] == ["att"]


def test_dead_letter_queue_is_named_by_its_url_or_explicitly() -> None:
    config = HandlerConfig(dlq_url=QUEUE_URL.format(name="my-dlq"))
    assert dead_letter_queue_name(config) == "my-dlq"
    assert [q.name for q in handler_spec(config).queues] == ["my-dlq"]
    named = handler_spec(config, dead_letter_queue="other")
    assert [q.name for q in named.queues] == ["other"]


def test_local_run_spec_adds_the_checkpoint_table_and_on_failure_queue() -> None:
    config = MappingConfig(on_failure_queue_url=QUEUE_URL.format(name="failures"))
    options = RunnerOptions(checkpoint_table="cps", function_name="fn")
    handler = HandlerConfig(bucket="out", attempts_table="att", idempotency_table=None)
    spec = local_run_spec(config=config, options=options, handler=handler)
    # The key ``shardflow bootstrap`` creates: a run after it changes no encryption setting.
    assert spec.key == KeySpec(resources.KMS_KEY_ALIAS)
    assert spec.tables == (checkpoint_table("cps"), *handler_spec(handler).tables)
    assert [b.name for b in spec.buckets] == ["out"]
    assert spec.queues == (QueueSpec("failures"), QueueSpec(resources.DEAD_LETTER_QUEUE))


def test_local_run_spec_without_the_handler_creates_only_the_runners_resources() -> None:
    spec = local_run_spec(
        config=MappingConfig(), options=RunnerOptions(checkpoint_table="cps"), handler=None
    )
    assert spec.tables == (checkpoint_table("cps"),)
    assert (spec.buckets, spec.queues, spec.streams) == ((), (), ())


def test_handler_config_takes_the_runners_function_name() -> None:
    config = handler_config(RunnerOptions(function_name="my-fn"))
    assert config is not None
    assert config.function_name == "my-fn"
