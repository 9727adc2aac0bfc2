"""``shardflow bootstrap`` creates what ``terraform/envs/localstack`` declares.

Both sides are reduced to the same plain description (names, key schema, TTL attribute,
encryption and recovery flags, indexes, stream shards and retention, bucket settings,
queue encryption) and compared whole: a resource on one side only, or a setting that
differs, fails with both descriptions in the message.
"""

from __future__ import annotations

from typing import Any

import pytest
from terraform_model import Instance, is_unknown

from shardflow import resources
from shardflow_tools.bootstrap import BootstrapSpec, default_spec, puts_tls_only_policy

Description = dict[str, dict[str, Any]]


def _known(inst: Instance, value: Any, what: str) -> Any:
    result = inst.eval(value)
    assert not is_unknown(result), f"{inst.address}: {what} is unknown at plan time: {result}"
    return result


def _set(inst: Instance, value: Any) -> bool:
    """True when an attribute (a key ARN, say) is given: known or known after apply."""
    result = inst.eval(value)
    return result is not None and result != ""


def describe_hcl(env: Instance) -> Description:
    out: Description = {}
    for inst in env.walk():
        for alias in inst.resources("aws_kms_alias"):
            out[f"kms {_known(inst, alias.body['name'], 'alias')}"] = {}
        for stream in inst.resources("aws_kinesis_stream"):
            body = stream.body
            mode = _known(inst, body["stream_mode_details"][0]["stream_mode"], "stream mode")
            out[f"stream {_known(inst, body['name'], 'stream name')}"] = {
                "shards": _known(inst, body.get("shard_count"), "shard_count")
                if mode == "PROVISIONED"
                else None,
                "retention_hours": _known(inst, body["retention_period"], "retention"),
                "encrypted": body["encryption_type"] == "KMS" and _set(inst, body["kms_key_id"]),
            }
        for table in inst.resources("aws_dynamodb_table"):
            body = table.body
            ttl = body.get("ttl", [{}])[0]
            sse = body.get("server_side_encryption", [{}])[0]
            pitr = body.get("point_in_time_recovery", [{}])[0]
            out[f"table {_known(inst, body['name'], 'table name')}"] = {
                "billing": body["billing_mode"],
                "hash_key": body["hash_key"],
                "range_key": body.get("range_key"),
                "attributes": sorted((a["name"], a["type"]) for a in body["attribute"]),
                "ttl": ttl.get("attribute_name") if inst.eval(ttl.get("enabled")) else None,
                "encrypted": inst.eval(sse.get("enabled")) is True
                and _set(inst, sse.get("kms_key_arn")),
                "pitr": _known(inst, pitr.get("enabled", False), "PITR") is True,
                "indexes": sorted(
                    (i["name"], i["hash_key"], i.get("range_key"), i["projection_type"])
                    for i in body.get("global_secondary_index", [])
                ),
            }
        buckets = inst.resources("aws_s3_bucket")
        for bucket in buckets:
            versioning = inst.resources("aws_s3_bucket_versioning")
            sse = inst.resources("aws_s3_bucket_server_side_encryption_configuration")
            pab = inst.resources("aws_s3_bucket_public_access_block")
            policy = inst.resources("aws_s3_bucket_policy")
            default = (
                sse[0].body["rule"][0]["apply_server_side_encryption_by_default"][0] if sse else {}
            )
            out[f"bucket {_known(inst, bucket.body['bucket'], 'bucket name')}"] = {
                "versioned": bool(versioning)
                and versioning[0].body["versioning_configuration"][0]["status"] == "Enabled",
                "encrypted": default.get("sse_algorithm") == "aws:kms"
                and _set(inst, default.get("kms_master_key_id")),
                "block_public_access": bool(pab)
                and all(
                    pab[0].body[f] is True
                    for f in (
                        "block_public_acls",
                        "block_public_policy",
                        "ignore_public_acls",
                        "restrict_public_buckets",
                    )
                ),
                "tls_only": bool(policy),
            }
        for queue in inst.resources("aws_sqs_queue"):
            body = queue.body
            out[f"queue {_known(inst, body['name'], 'queue name')}"] = {
                "encrypted": _set(inst, body.get("kms_master_key_id")),
                "retention": _known(inst, body["message_retention_seconds"], "retention"),
            }
    return out


def describe_spec(spec: BootstrapSpec, endpoint_url: str) -> Description:
    """What bootstrap creates with ``spec`` at ``endpoint_url``."""
    out: Description = {}
    if spec.key is not None:
        out[f"kms {spec.key.alias}"] = {}
    for stream in spec.streams:
        out[f"stream {stream.name}"] = {
            "shards": stream.shard_count,
            "retention_hours": stream.retention_hours,
            "encrypted": stream.encrypted,
        }
    for table in spec.tables:
        out[f"table {table.name}"] = {
            "billing": "PAY_PER_REQUEST",
            "hash_key": table.hash_key,
            "range_key": table.range_key,
            "attributes": sorted((name, "S") for name in table.attributes),
            "ttl": table.ttl_attribute,
            "encrypted": table.encrypted,
            "pitr": table.point_in_time_recovery,
            "indexes": sorted(
                (i.name, i.hash_key, i.range_key, i.projection) for i in table.indexes
            ),
        }
    for bucket in spec.buckets:
        out[f"bucket {bucket.name}"] = {
            "versioned": bucket.versioned,
            "encrypted": bucket.encrypted,
            "block_public_access": bucket.block_public_access,
            "tls_only": puts_tls_only_policy(bucket, endpoint_url),
        }
    for queue in spec.queues:
        out[f"queue {queue.name}"] = {
            "encrypted": queue.encrypted,
            "retention": queue.message_retention_seconds,
        }
    return out


@pytest.mark.parametrize("endpoint", [None, "https://localstack.internal:4566"])
def test_bootstrap_creates_what_envs_localstack_declares(
    localstack_env: Instance, endpoint: str | None
) -> None:
    """At the environment's default endpoint (plain HTTP) and at a TLS one."""
    env = localstack_env
    if endpoint is not None:
        env = Instance(localstack_env.module, {"endpoint": endpoint})
    hcl = describe_hcl(env)
    spec = describe_spec(default_spec(), env.variable("endpoint"))
    only_hcl = sorted(set(hcl) - set(spec))
    only_spec = sorted(set(spec) - set(hcl))
    assert not only_hcl, f"declared in envs/localstack but not bootstrapped: {only_hcl}"
    assert not only_spec, f"bootstrapped but not declared in envs/localstack: {only_spec}"
    for name in sorted(hcl):
        assert hcl[name] == spec[name], f"{name}: terraform {hcl[name]} != bootstrap {spec[name]}"


def test_the_comparison_covers_every_kind_of_resource(localstack_env: Instance) -> None:
    kinds = {name.split()[0] for name in describe_hcl(localstack_env)}
    assert kinds == {"kms", "stream", "table", "bucket", "queue"}
    # Every resource a local run uses, named as shardflow.resources names it, on both sides.
    kcl = resources.KCL_APPLICATION
    expected = {
        f"kms {resources.KMS_KEY_ALIAS}",
        f"stream {resources.STREAM}",
        f"table {resources.IDEMPOTENCY_TABLE}",
        f"table {resources.ATTEMPTS_TABLE}",
        f"table {resources.CHECKPOINT_TABLE}",
        f"table {kcl}",
        f"table {kcl}{resources.KCL_COORDINATOR_STATE_SUFFIX}",
        f"table {kcl}{resources.KCL_WORKER_METRICS_SUFFIX}",
        f"bucket {resources.BUCKET}",
        f"queue {resources.DEAD_LETTER_QUEUE}",
        f"queue {resources.ON_FAILURE_QUEUE}",
    }
    assert set(describe_hcl(localstack_env)) == expected
    assert set(describe_spec(default_spec(), localstack_env.variable("endpoint"))) == expected


def test_a_difference_is_reported(localstack_env: Instance) -> None:
    # The comparison is not vacuous: a bootstrap without TTL on the idempotency table, or
    # with another shard count, no longer matches.
    spec = describe_spec(default_spec(), localstack_env.variable("endpoint"))
    hcl = describe_hcl(localstack_env)
    spec[f"table {resources.IDEMPOTENCY_TABLE}"]["ttl"] = None
    assert spec != hcl
    other = Instance(localstack_env.module, {"shard_count": 4})
    assert describe_hcl(other)[f"stream {resources.STREAM}"]["shards"] == 4
    assert describe_hcl(other) != describe_spec(default_spec(), localstack_env.variable("endpoint"))
