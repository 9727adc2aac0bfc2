"""``shardflow consume lambda`` end to end with a handler given as module:function."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shardflow_tools.bootstrap import BootstrapReport, StreamSpec
from shardflow_tools.cli import main


def test_consume_lambda_runs_a_handler_until_drained(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kinesis = aws_client("kinesis")
    stream = unique_name("stream")
    provision(StreamSpec(stream, shard_count=1))
    kinesis.put_records(
        StreamName=stream,
        Records=[{"PartitionKey": "k", "Data": f"{i}".encode()} for i in range(30)],
    )
    out = tmp_path / "seen.txt"
    module = unique_name("handler").replace("-", "_")
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            import base64

            def handle(event, context):
                with open({str(out)!r}, "a") as f:
                    for r in event["Records"]:
                        f.write(base64.b64decode(r["kinesis"]["data"]).decode() + "\\n")
                return {{"batchItemFailures": []}}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    table = unique_name("checkpoints")
    # A loopback endpoint: the command creates the missing checkpoint table itself.
    code = main(
        [
            "consume",
            "lambda",
            "--stream",
            stream,
            "--handler",
            f"{module}:handle",
            "--batch-size",
            "7",
            "--checkpoint-table",
            table,
            "--poll-interval",
            "0.05",
            "--until-drained",
            "--duration",
            "60",
        ]
    )
    assert code == 0
    assert out.read_text().split() == [str(i) for i in range(30)]
    err = capsys.readouterr().err
    assert "5 invocations" in err  # 30 records in batches of 7
    assert "30 Kinesis records processed" in err


def test_bad_handler_spec_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["consume", "lambda", "--stream", "s", "--handler", "nodots", "--no-create-resources"]
    )
    assert code == 2
    assert "module.function" in capsys.readouterr().err


def test_default_handler_refuses_parallel_lanes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "consume",
            "lambda",
            "--stream",
            "s",
            "--parallelization-factor",
            "2",
            "--no-create-resources",
        ]
    )
    assert code == 2
    assert "ParallelizationFactor 1" in capsys.readouterr().err
