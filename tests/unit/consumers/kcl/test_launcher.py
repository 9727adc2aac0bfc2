"""The launcher finds Java and the jars, writes its files and builds the daemon's command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from consumers.kcl import launcher
from consumers.kcl.errors import JavaNotFoundError
from consumers.kcl.launcher import LaunchConfig, loopback_port, prepare, processor_executable
from consumers.kcl.properties import DaemonProperties
from shardflow_tools.cli import build_parser


def _config(tmp_path: Path, endpoint: str | None, isolation: str = "none") -> LaunchConfig:
    props = DaemonProperties(
        stream="s1",
        application="app-1",
        executable="python -m consumers.kcl",
        region="us-east-1",
        endpoint_url=endpoint,
    )
    return LaunchConfig(
        properties=props,
        workdir=tmp_path,
        isolation=isolation,  # type: ignore[arg-type]
        processor_env={"SHARDFLOW_BUCKET": "out"},
    )


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="Install a Java 17 runtime"):
        launcher.find_java()


def test_java_home_wins_over_path(tmp_path: Path) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    assert launcher.find_java(str(tmp_path)) == str(java)


def test_prepare_writes_properties_and_runs_daemon_with_cbor_off(tmp_path: Path) -> None:
    prepared = prepare(_config(tmp_path, "http://127.0.0.1:4566"))
    assert prepared.properties_file.read_text().count("streamName = s1") == 1
    cmd = prepared.command
    assert "-Daws.cborEnabled=false" in cmd
    assert cmd[cmd.index("-cp") + 1].endswith("/jars/*")
    assert launcher.MAIN_CLASS in cmd
    assert cmd[cmd.index("--properties-file") + 1] == str(prepared.properties_file)
    logback = Path(cmd[cmd.index("--log-configuration") + 1])
    assert "System.err" in logback.read_text()  # stdout is never used for logs
    env = prepared.env
    assert env["CBOR_ENABLED"] == "false"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["SHARDFLOW_BUCKET"] == "out"
    assert prepared.unshare is None  # isolation=none


def test_netns_isolation_against_aws_is_refused(tmp_path: Path) -> None:
    with pytest.raises(launcher.LaunchError, match="loopback endpoint"):
        prepare(_config(tmp_path, None, isolation="netns"))


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://127.0.0.1:4566", 4566),
        ("http://localhost:4566", 4566),
        ("http://127.0.0.2", 80),
        ("https://kinesis.eu-west-1.amazonaws.com", None),
        ("http://localhost.localstack.cloud:4566", None),  # needs DNS inside the namespace
        (None, None),
    ],
)
def test_loopback_port(url: str | None, port: int | None) -> None:
    assert loopback_port(url) == port


def test_interpreter_path_with_spaces_gets_a_wrapper(tmp_path: Path) -> None:
    assert processor_executable(tmp_path, "/usr/bin/python3") == (
        "/usr/bin/python3 -m consumers.kcl"
    )
    wrapper = processor_executable(tmp_path, "/opt/my python/bin/python")
    assert " " not in wrapper
    assert "'/opt/my python/bin/python' -m consumers.kcl" in Path(wrapper).read_text()


def test_cli_uses_local_timings_only_against_a_loopback_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    args = parser.parse_args(
        [
            "consume",
            "kcl",
            "--stream",
            "s",
            "--app",
            "app",
            "--print-properties",
            "--failover-time-ms",
            "7000",
            "--bucket",
            "b1",
        ]
    )
    assert args.func(args) == 0
    local = capsys.readouterr().out
    assert "failoverTimeMillis = 7000" in local
    assert "shardSyncIntervalMillis = 5000" in local
    assert "metricsLevel = NONE" in local
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    args = parser.parse_args(
        ["consume", "kcl", "--stream", "s", "--app", "app", "--print-properties"]
    )
    assert args.func(args) == 0
    remote = capsys.readouterr().out
    assert "shardSyncIntervalMillis" not in remote
    assert "kinesisEndpoint" not in remote
    assert "metricsLevel = SUMMARY" in remote


def test_cli_rejects_bad_application_name(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["consume", "kcl", "--app", "x", "--print-properties"])
    assert isinstance(args, argparse.Namespace)
    assert args.func(args) == 2
    assert "application" in capsys.readouterr().err


def test_processor_environment_locally_and_against_aws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("SHARDFLOW_SINK_MAX_SPAN_SECONDS", "SHARDFLOW_KCL_SHUTDOWN_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    local = launcher.daemon_env(_config(tmp_path, "http://127.0.0.1:4566"))
    # Output within seconds locally; a processor outlives a signal as long as the launcher
    # waits for the daemon (shutdown grace 20 s + 30 s).
    assert local["SHARDFLOW_SINK_MAX_SPAN_SECONDS"] == "10"
    assert local["SHARDFLOW_KCL_SHUTDOWN_TIMEOUT_SECONDS"] == "50"
    remote = launcher.daemon_env(_config(tmp_path, None))
    assert "SHARDFLOW_SINK_MAX_SPAN_SECONDS" not in remote  # the sink's own default
    monkeypatch.setenv("SHARDFLOW_SINK_MAX_SPAN_SECONDS", "120")
    assert (
        launcher.daemon_env(_config(tmp_path, "http://127.0.0.1:4566"))[
            "SHARDFLOW_SINK_MAX_SPAN_SECONDS"
        ]
        == "120"
    )
