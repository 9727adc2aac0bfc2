"""Start the KCL MultiLangDaemon (Java) with ``python -m consumers.kcl`` as its processor.

What :func:`launch` does, in order:

1. finds ``java`` (``JAVA_HOME/bin/java``, then ``PATH``) and the KCL jars bundled with
   ``amazon_kclpy`` (kclpy-ext ships them in the wheel; the official amazon-kclpy downloads
   them at install into the same folder);
2. writes the properties file (:class:`~consumers.kcl.properties.DaemonProperties`) and a
   logback configuration that logs to stderr into a work directory;
3. runs ``java -Daws.cborEnabled=false -cp <jars>/* MultiLangDaemon``. CBOR is off because
   emulators answer the SDK's CBOR requests with errors; against AWS it only costs a little
   JSON parsing;
4. against a loopback endpoint, runs the daemon in a loopback-only network namespace
   (:mod:`consumers.kcl.isolation`) when the machine allows it, so the KCL's probes of the
   EC2 metadata address never leave the machine;
5. forwards SIGTERM/SIGINT/SIGHUP to the daemon as SIGTERM, which asks every processor to
   shut down (``shutdown_requested``: flush, then checkpoint) within
   ``shutdownGraceMillis``, and returns the daemon's exit code. The processors ignore those
   signals when the whole process group gets them (Ctrl-C, systemd): the daemon drives
   their shutdown (:mod:`consumers.kcl.signals`).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Final, Literal
from urllib.parse import urlparse

from consumers.kcl.daemon_log import forward
from consumers.kcl.errors import JavaNotFoundError, LaunchError
from consumers.kcl.isolation import HostBridge, namespace_command, unshare_prefix
from consumers.kcl.leader import new_worker_id, release_leader_lock
from consumers.kcl.probe import probe_h2c
from consumers.kcl.properties import DaemonProperties
from consumers.kcl.stopping import DaemonStop
from shardflow import settings
from shardflow.errors import ConfigError

logger = logging.getLogger(__name__)

MAIN_CLASS: Final = "software.amazon.kinesis.multilang.MultiLangDaemon"
#: The processor the daemon starts for every shard it leases.
PROCESSOR_MODULE: Final = "consumers.kcl"
_MULTILANG_JAR_GLOB: Final = "amazon-kinesis-client-multilang-*.jar"
#: The sink's idle-flush span against a local endpoint (SHARDFLOW_SINK_MAX_SPAN_SECONDS).
LOCAL_SINK_MAX_SPAN_SECONDS: Final = 10.0
#: Past the shutdown grace, the daemon still needs a lease-failover period to exit.
_EXIT_MARGIN_SECONDS: Final = 30.0
#: A daemon without processors left exits about a failover period after SIGTERM (measured).
_KCL_DEFAULT_FAILOVER_MILLIS: Final = 10_000
_LINGER_MARGIN_SECONDS: Final = 5.0

#: Signals that stop the consumer gracefully (a terminal's Ctrl-C and hang-up, a service
#: manager's stop): each is forwarded to the daemon as SIGTERM.
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Exit codes of a JVM that ran its shutdown hooks after one of them.
_STOPPED_BY_SIGNAL: Final = frozenset(128 + sig for sig in _STOP_SIGNALS)

Isolation = Literal["auto", "netns", "none"]
ISOLATION_MODES: Final = ("auto", "netns", "none")

_LOGBACK = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by shardflow consume kcl: the daemon logs to stderr, never to stdout. -->
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder>
      <pattern>%d [%thread] %-5level %logger{36} [%mdc{ShardId:-NONE}] - %msg %n</pattern>
    </encoder>
  </appender>
  <root level="{level}">
    <appender-ref ref="STDERR" />
  </root>
</configuration>
"""


def find_java(java_home: str | None = None) -> str:
    """Path of the ``java`` executable, or :class:`JavaNotFoundError` saying how to get one."""
    home = java_home if java_home is not None else os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise JavaNotFoundError(
            "java not found (JAVA_HOME unset or without bin/java, and none on PATH): the KCL "
            "MultiLangDaemon is a Java program. Install a Java 17 runtime, e.g. "
            "`apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    return found


def kcl_jars_dir() -> Path:
    """The folder of the KCL jars that ``amazon_kclpy`` ships (kclpy-ext or amazon-kclpy)."""
    spec = importlib.util.find_spec("amazon_kclpy")
    if spec is None or not spec.submodule_search_locations:
        raise LaunchError(
            "amazon_kclpy is not installed: pip install 'shardflow[kcl]' (kclpy-ext, jars "
            "bundled) or the official amazon-kclpy"
        )
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    if not any(jars.glob(_MULTILANG_JAR_GLOB)):
        raise LaunchError(
            f"no {_MULTILANG_JAR_GLOB} in {jars}: the amazon_kclpy installation has no KCL "
            "jars (amazon-kclpy downloads them at install; kclpy-ext bundles them)"
        )
    return jars


def processor_executable(workdir: Path, python: str = sys.executable) -> str:
    """The ``executableName`` that starts ``python -m consumers.kcl``.

    The daemon splits ``executableName`` on spaces, so an interpreter path with spaces gets
    a small wrapper script in ``workdir``.
    """
    if " " not in python:
        return f"{python} -m {PROCESSOR_MODULE}"
    wrapper = workdir / "processor.sh"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} -m {PROCESSOR_MODULE} "$@"\n')
    wrapper.chmod(0o755)
    if " " in str(wrapper):
        raise LaunchError(f"work directory {workdir} contains a space; pass another --workdir")
    return str(wrapper)


def loopback_port(endpoint_url: str | None) -> int | None:
    """The TCP port of ``endpoint_url`` when it is on this machine's loopback, else None.

    Only literal loopback addresses and ``localhost`` count: a namespace has no DNS, so a
    LocalStack hostname such as ``localhost.localstack.cloud`` cannot be bridged.
    """
    if not endpoint_url:
        return None
    parsed = urlparse(endpoint_url)
    host = parsed.hostname or ""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    if parsed.port is not None:
        return parsed.port
    return 443 if parsed.scheme == "https" else 80


@dataclass(frozen=True)
class LaunchConfig:
    """How to start the daemon: its properties plus the process around it.

    ``processor_env`` is added to the daemon's environment, which the processors inherit
    (``SHARDFLOW_BUCKET``, ``SHARDFLOW_KCL_HANDLER``, ...). ``isolation``: ``netns`` requires
    a loopback-only namespace, ``none`` never uses one, ``auto`` uses one against a
    loopback endpoint when the machine allows it (root, or unprivileged user namespaces).
    """

    properties: DaemonProperties
    workdir: Path | None = None
    isolation: Isolation = "auto"
    java_log_level: str = "INFO"
    java_options: tuple[str, ...] = ()
    processor_env: Mapping[str, str] = field(default_factory=dict)
    java_home: str | None = None
    #: Check that an ``http://`` endpoint speaks h2c before Java starts (consumers.kcl.probe).
    probe_endpoint: bool = True

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise ConfigError("isolation", f"must be one of {ISOLATION_MODES}")
        if self.java_log_level.upper() not in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"}:
            raise ConfigError("java_log_level", "must be TRACE, DEBUG, INFO, WARN, ERROR or OFF")


@dataclass(frozen=True)
class Prepared:
    """Everything :func:`prepare` wrote and decided, before any process starts."""

    command: list[str]
    env: dict[str, str]
    properties_file: Path
    workdir: Path
    bridge_ports: tuple[int, ...]
    unshare: tuple[str, ...] | None


def daemon_env(config: LaunchConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's (and so the processors') environment."""
    env = dict(os.environ if base is None else base)
    props = config.properties
    env.update(config.processor_env)
    # KCL 3 reads CBOR_ENABLED (not AWS_CBOR_DISABLE); the -D flag is set too.
    env["CBOR_ENABLED"] = "false"
    env["AWS_CBOR_DISABLE"] = "true"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.setdefault(settings.REGION, props.region)
    env.setdefault(settings.STREAM, props.stream)
    # A processor signalled with the whole group waits for the daemon's shutdownRequested
    # as long as the launcher waits for the daemon (consumers.kcl.signals).
    env.setdefault(settings.KCL_SHUTDOWN_TIMEOUT_SECONDS, f"{_stop_deadline(props):g}")
    if props.endpoint_url:
        env[settings.ENDPOINT_URL] = props.endpoint_url
        if loopback_port(props.endpoint_url) is not None:
            # Emulators accept any credentials; the SDKs refuse to sign without some.
            env.setdefault("AWS_ACCESS_KEY_ID", "test")
            env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
            # A local run shows its output within seconds, not after the sink's 300 s
            # production default (a few large objects per shard for Athena).
            env.setdefault(settings.SINK_MAX_SPAN_SECONDS, f"{LOCAL_SINK_MAX_SPAN_SECONDS:g}")
    return env


def daemon_command(
    java: str,
    jars: Path | str,
    properties_file: Path | str,
    logback: Path | str | None = None,
    java_options: Sequence[str] = (),
) -> list[str]:
    """The MultiLangDaemon's command line; CBOR off, which emulators need."""
    command = [
        java,
        "-Daws.cborEnabled=false",
        *java_options,
        "-cp",
        f"{jars}/*",
        MAIN_CLASS,
        "--properties-file",
        str(properties_file),
    ]
    if logback is not None:
        command += ["--log-configuration", str(logback)]
    return command


def prepare(config: LaunchConfig) -> Prepared:
    """Check Java and the jars, write the properties and logback files, build the command."""
    java = find_java(config.java_home)
    jars = kcl_jars_dir()
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="shardflow-kcl-"))
    workdir.mkdir(parents=True, exist_ok=True)
    props = config.properties
    properties_file = workdir / f"{props.application}.properties"
    properties_file.write_text(props.render())
    logback = workdir / "logback.xml"
    logback.write_text(_LOGBACK.replace("{level}", config.java_log_level.upper()))
    command = daemon_command(java, jars, properties_file, logback, config.java_options)
    port = loopback_port(props.endpoint_url)
    unshare: list[str] | None = None
    if config.isolation != "none" and port is not None:
        unshare = unshare_prefix()
        if unshare is None and config.isolation == "netns":
            raise LaunchError(
                "isolation=netns needs `unshare` (util-linux) and either root or "
                "unprivileged user namespaces"
            )
        if unshare is None:
            logger.warning(
                "no network namespace available (not root, no unprivileged user namespaces): "
                "the daemon runs in the host's network; KCL 3 will probe the EC2 metadata "
                "address 169.254.169.254 (worker metrics), which leaves this machine"
            )
    elif config.isolation == "netns":
        raise LaunchError(
            "isolation=netns needs a loopback endpoint (AWS_ENDPOINT_URL=http://127.0.0.1:PORT)"
        )
    return Prepared(
        command=command,
        env=daemon_env(config),
        properties_file=properties_file,
        workdir=workdir,
        bridge_ports=(port,) if unshare is not None and port is not None else (),
        unshare=tuple(unshare) if unshare is not None else None,
    )


def _stop_deadline(props: DaemonProperties) -> float:
    """Seconds from a stop signal until the daemon must have exited."""
    return props.shutdown_grace_millis / 1000 + _EXIT_MARGIN_SECONDS


def _linger_seconds(props: DaemonProperties) -> float:
    """Seconds the daemon gets to exit on its own once no processor is left after a stop."""
    failover = props.timings.get("failoverTimeMillis", _KCL_DEFAULT_FAILOVER_MILLIS)
    return float(failover) / 1000 + _LINGER_MARGIN_SECONDS


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


def _release_leadership(props: DaemonProperties) -> None:
    # A daemon that exited holding KCL 3's leader lock would make a worker started again
    # under the same application wait up to 2 minutes for its first lease.
    if props.worker_id is not None:
        release_leader_lock(
            props.application,
            props.worker_id,
            endpoint_url=props.endpoint_url,
            region=props.region,
        )


def launch(config: LaunchConfig) -> int:
    """Run the daemon until it exits or SIGTERM/SIGINT/SIGHUP stops it; return its exit
    code."""
    if config.probe_endpoint and config.properties.endpoint_url:
        # Against an HTTP/1.1-only endpoint (or none) the daemon would retry forever.
        probe_h2c(config.properties.endpoint_url)
    if config.properties.worker_id is None:
        # Named here, not by the KCL, so the launcher can release this worker's leader lock.
        config = replace(config, properties=replace(config.properties, worker_id=new_worker_id()))
    prepared = prepare(config)
    bridge: HostBridge | None = None
    command = prepared.command
    if prepared.unshare is not None:
        bridge = HostBridge(prepared.workdir, prepared.bridge_ports)
        bridge.start()
        command = namespace_command(prepared.unshare, bridge.sockets, command)
        logger.info("daemon runs in a loopback-only network namespace")
    logger.info("properties file %s", prepared.properties_file)
    logger.info("starting %s", shlex.join(command))
    try:
        proc = subprocess.Popen(
            command, env=prepared.env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    except OSError as exc:
        if bridge is not None:
            bridge.stop()
        raise LaunchError(f"cannot start {command[0]}: {exc}") from exc
    assert proc.stderr is not None
    stderr_pump = forward(proc.stderr, sys.stderr)
    stop = DaemonStop(
        proc,
        deadline=_stop_deadline(config.properties),
        linger=_linger_seconds(config.properties),
        processor_marker=f"-m {PROCESSOR_MODULE}",
    )

    def _forward(signum: int, _frame: FrameType | None) -> None:
        stop.request(signum)

    previous = {sig: signal.signal(sig, _forward) for sig in _STOP_SIGNALS}
    try:
        while True:
            try:
                returncode = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                stop.tick()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if bridge is not None:
            bridge.stop()
        stderr_pump.join(timeout=5)
    logger.info("daemon exited with %d", returncode)
    _release_leadership(config.properties)
    if stop.requested is not None and (
        _exit_code(returncode) in _STOPPED_BY_SIGNAL or stop.killed_when_idle
    ):
        return 0  # the JVM reports the SIGTERM we forwarded; the shutdown was the one asked
    return _exit_code(returncode)


__all__: Sequence[str] = (
    "ISOLATION_MODES",
    "MAIN_CLASS",
    "PROCESSOR_MODULE",
    "LaunchConfig",
    "Prepared",
    "daemon_command",
    "daemon_env",
    "find_java",
    "kcl_jars_dir",
    "launch",
    "loopback_port",
    "prepare",
    "processor_executable",
)
