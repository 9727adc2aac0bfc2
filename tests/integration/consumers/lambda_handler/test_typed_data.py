"""Typed data columns through the Lambda handler: the pipeline dead-letters what does not fit
the declared schema before the end-of-batch write, the batch succeeds, and the Parquet output
is queried by field in DuckDB."""

from __future__ import annotations

from typing import Any

from consumers import DataSchema, SinkConfig, localquery

DATA = DataSchema.parse(
    {
        "type": "object",
        "properties": {"amount": {"type": "number"}, "note": {"type": "string"}},
        "required": ["amount"],
    }
)


def test_a_mismatch_is_dead_lettered_and_the_rest_is_typed(
    handler_env: Any, events: Any, context: Any
) -> None:
    event = events.kinesis_event(
        [
            ("a", events.envelope("e1", amount=1.5)),
            ("b", events.envelope("e2", amount="lots")),
            ("c", events.envelope("e3", amount=2, note="n")),
        ],
        stream=handler_env.stream,
    )
    consumer = handler_env.consumer(sink=SinkConfig(format="parquet", data_schema=DATA))
    assert consumer(event, context) == {"batchItemFailures": []}
    (letter,) = handler_env.dead_letters()
    assert (letter["reason"], letter["field"]) == ("schema_mismatch", "data.amount")
    with localquery.connect_s3(
        handler_env.clients.s3, handler_env.config.bucket, handler_env.config.sink.prefix
    ) as con:
        rows = localquery.run(con, "SELECT id, data.amount, data.note FROM events ORDER BY id")[1]
    assert rows == [("e1", 1.5, None), ("e3", 2.0, "n")]
