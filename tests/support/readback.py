"""Reading back what a consumer wrote: the sink's JSON Lines rows in S3, dead letters in SQS.

Shared by the consumers' integration and e2e harnesses; ``tests/conftest.py`` puts this
folder on ``sys.path``.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson

#: The sink's data prefix in the harnesses (``SinkConfig``'s default).
OUTPUT_PREFIX = "events/"


def jsonl_keys(s3: Any, bucket: str, prefix: str = OUTPUT_PREFIX) -> list[str]:
    """The keys of the sink's JSON Lines objects under ``prefix``, sorted (no manifests)."""
    paginator = s3.get_paginator("list_objects_v2")
    return sorted(
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(".json.gz")
    )


def athena_visible(key: str, prefix: str = OUTPUT_PREFIX) -> bool:
    """Whether Athena reads ``key`` as part of the table at ``prefix``: it skips every object
    with a path segment (below the prefix) that starts with ``_`` or ``.`` (manifests,
    staging objects)."""
    if not key.startswith(prefix) or key.endswith("/"):
        return False
    return not any(part[:1] in {"_", "."} for part in key[len(prefix) :].split("/"))


def visible_objects(s3: Any, bucket: str, prefix: str = OUTPUT_PREFIX) -> dict[str, str]:
    """The objects Athena reads under ``prefix``: key -> ETag (to re-read only what changed)."""
    paginator = s3.get_paginator("list_objects_v2")
    return {
        obj["Key"]: obj["ETag"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if athena_visible(obj["Key"], prefix)
    }


def gzip_jsonl(body: bytes) -> list[dict[str, Any]]:
    """The rows of a gzipped JSON Lines object."""
    return [orjson.loads(line) for line in gzip.decompress(body).splitlines() if line]


def jsonl_rows(s3: Any, bucket: str, prefix: str = OUTPUT_PREFIX) -> list[dict[str, Any]]:
    """Every row of those objects, in key order (duplicates kept)."""
    rows: list[dict[str, Any]] = []
    for key in jsonl_keys(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows += gzip_jsonl(body)
    return rows


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message in the queue; their JSON bodies, in arrival order."""
    out: list[dict[str, Any]] = []
    while True:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(orjson.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
