"""After its cold start the handler takes its long-lived heap out of the cyclic GC's way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import base64, gc, sys
    from consumers.lambda_handler import Clients, HandlerConfig, LambdaConsumer, Observability
    from consumers.sink import SinkConfig

    from botocore.exceptions import ClientError

    class S3:  # a bucket that keeps what the sink writes (conditions not checked)
        def __init__(self): self.objects = {}
        def put_object(self, Key, Body, **kw): self.objects[Key] = Body; return {"ETag": "e"}
        def get_object(self, Key, **kw):
            if Key not in self.objects:
                raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
            return {"Body": type("B", (), {"read": lambda _: self.objects[Key]})(), "ETag": "e"}
        def head_object(self, Key, **kw): return self.get_object(Key)
        def copy_object(self, Key, CopySource, **kw):
            self.objects[Key] = self.objects[CopySource["Key"]]
        def delete_objects(self, Delete, **kw): return {}
        def list_objects_v2(self, **kw): return {"Contents": []}

    def consumer(**kw):
        return LambdaConsumer(
            HandlerConfig(sink=SinkConfig(format="jsonl"), dlq_url="q", idempotency_table=None),
            clients=Clients(s3=S3(), sqs=object(), dynamodb=object()),
            observability=Observability(
                service="t", namespace="t", log_level="ERROR", emit_metrics=False
            ),
            **kw,
        )

    data = b'{"specversion":"1.0","id":"e1","source":"s","type":"t"}'
    seq = "49590338271490256608559692538361571095921575989136588898"
    event = {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "k", "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1764000000.0},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000000:" + seq, "eventName": "aws:kinesis:record",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}]}
    if sys.argv[1] == "off":
        c = consumer(freeze_heap=False)
        c(event, None)
        print(gc.get_freeze_count())
    else:
        first = consumer()
        assert gc.get_freeze_count() == 0  # not at build time: the clients come later
        first(event, None)
        frozen = gc.get_freeze_count()
        first(event, None)
        consumer()(event, None)  # once per process
        print(frozen, gc.get_freeze_count() <= frozen, gc.isenabled())  # no second freeze
    """
)


def _run(mode: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def test_the_first_invocation_freezes_the_heap_once_per_process() -> None:
    frozen, unchanged, enabled = _run("on").split()
    assert int(frozen) > 10_000  # modules, powertools, the consumer
    assert unchanged == "True" and enabled == "True"


def test_freezing_can_be_left_to_the_embedding_program() -> None:
    assert _run("off") == "0"
