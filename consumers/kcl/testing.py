"""Drive a KCL processor child through the multilang protocol, without Java.

:class:`ScriptedDaemon` plays the MultiLangDaemon's side of the pipes: it starts
``python -m consumers.kcl`` (or any command), sends the daemon's messages, answers the
child's checkpoint requests the way a test scripts them (success, ``ThrottlingException``,
``ShutdownException``, ...) and records every checkpoint asked for. The shardflow tests and
the ``kcl`` benchmark use it; so can a user testing a handler.

>>> with ScriptedDaemon(env) as daemon:                         # doctest: +SKIP
...     daemon.initialize("shardId-000000000000")
...     asked = daemon.process_records([kcl_record(b"{...}", "1")])
...     daemon.shutdown_requested()
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Final

from shardflow import kpl

#: What a checkpoint answer function returns: None for success, else the KCL error name.
CheckpointAnswer = Callable[["CheckpointRequest"], str | None]

_DEFAULT_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class CheckpointRequest:
    """A checkpoint the child asked for; ``sequence_number`` None means "at shard end"."""

    sequence_number: str | None
    sub_sequence_number: int | None
    #: The daemon message during which the child asked (``processRecords``, ...).
    during: str


def accept(_request: CheckpointRequest) -> str | None:
    """Answer every checkpoint with success."""
    return None


def answers(*errors: str | None) -> CheckpointAnswer:
    """Answer successive checkpoints with ``errors`` in order (None = success), then success."""
    pending = list(errors)

    def answer(_request: CheckpointRequest) -> str | None:
        return pending.pop(0) if pending else None

    return answer


class ProtocolError(AssertionError):
    """The child broke the protocol: non-JSON on stdout, no answer in time, early exit."""


def kcl_record(
    data: bytes,
    sequence_number: str,
    sub_sequence_number: int = 0,
    *,
    partition_key: str = "pk",
    arrival: datetime | None = None,
) -> dict[str, Any]:
    """One record as the daemon sends it (plain records have sub-sequence number 0)."""
    when = arrival or datetime.now(UTC)
    return {
        "action": "record",
        "data": base64.b64encode(data).decode(),
        "partitionKey": partition_key,
        "sequenceNumber": sequence_number,
        "subSequenceNumber": sub_sequence_number,
        "approximateArrivalTimestamp": int(when.timestamp() * 1000),
    }


def deaggregated(
    aggregate: bytes, sequence_number: str, *, arrival: datetime | None = None
) -> list[dict[str, Any]]:
    """The records the daemon sends for one KPL aggregate: one per user record, sharing the
    aggregate's sequence number, with sub-sequence numbers 0, 1, ..."""
    return [
        kcl_record(
            user.data,
            sequence_number,
            user.sub_sequence_number,
            partition_key=user.partition_key,
            arrival=arrival,
        )
        for user in kpl.deaggregate(aggregate)
    ]


class ScriptedDaemon:
    """The daemon's side of the multilang protocol, scripted.

    ``env`` is added to this process's environment for the child; ``timeout`` bounds every
    wait for the child (a hang fails instead of blocking). ``noise`` collects anything the
    child wrote to stdout that is not a protocol message (there must be none).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        command: Sequence[str] | None = None,
        timeout: float = _DEFAULT_TIMEOUT,
        stderr: IO[bytes] | int | None = None,
    ) -> None:
        self._command = list(command or [sys.executable, "-m", "consumers.kcl"])
        self._env = {**os.environ, **(env or {})}
        self._timeout = timeout
        self._stderr = stderr
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self.noise: list[str] = []
        self.checkpoints: list[CheckpointRequest] = []

    # -- process -------------------------------------------------------------------------

    def start(self) -> ScriptedDaemon:
        """Start the child."""
        self._proc = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._env,
        )
        reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        reader.start()
        return self

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def close(self) -> int:
        """Close the child's stdin (the daemon going away) and return its exit code."""
        proc = self._require()
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        return self._wait("of EOF")

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the child, as a terminal or a service manager signalling the
        whole process group would."""
        self._require().send_signal(signum)

    def wait(self) -> int:
        """Wait (at most ``timeout`` seconds) for the child to exit on its own; its exit code."""
        return self._wait("on its own")

    def _wait(self, since: str) -> int:
        proc = self._require()
        try:
            return proc.wait(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ProtocolError(f"child did not exit within {self._timeout}s {since}") from None

    @property
    def returncode(self) -> int | None:
        """The child's exit code once it exited, else None."""
        return self._require().poll()

    def __enter__(self) -> ScriptedDaemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self.close()
            except ProtocolError:
                if exc is None:
                    raise

    def _require(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("ScriptedDaemon not started")
        return self._proc

    # -- protocol ------------------------------------------------------------------------

    def send(self, message: Mapping[str, Any]) -> None:
        """Write one message line to the child's stdin."""
        self.send_encoded(json.dumps(message).encode() + b"\n")

    def receive(self) -> dict[str, Any]:
        """The child's next protocol message (blank lines skipped)."""
        while True:
            try:
                line = self._lines.get(timeout=self._timeout)
            except queue.Empty:
                raise ProtocolError(f"no message from the child within {self._timeout}s") from None
            if line is None:
                code = self._require().wait(timeout=self._timeout)
                raise ProtocolError(f"child closed stdout (exit code {code})")
            text = line.decode(errors="replace").strip()
            if not text:
                continue
            try:
                message = json.loads(text)
            except ValueError:
                self.noise.append(text)
                continue
            if not isinstance(message, dict) or "action" not in message:
                self.noise.append(text)
                continue
            return message

    def send_encoded(self, line: bytes) -> None:
        """Write one already-encoded message (a JSON object and a newline)."""
        stdin = self._require().stdin
        if stdin is None:
            raise RuntimeError("child has no stdin")
        try:
            stdin.write(line)
            stdin.flush()
        except BrokenPipeError as exc:
            raise ProtocolError(f"child exited (code {self.returncode})") from exc

    def exchange(
        self,
        message: Mapping[str, Any] | bytes,
        on_checkpoint: CheckpointAnswer = accept,
        *,
        action: str | None = None,
    ) -> list[CheckpointRequest]:
        """Send ``message`` (a dict, or its encoded line with ``action`` named), answer
        checkpoints until the child's status; return the checkpoints it asked for."""
        if isinstance(message, bytes):
            if action is None:
                raise ValueError("an encoded message needs its action")
            self.send_encoded(message)
        else:
            action = str(message["action"])
            self.send(message)
        asked: list[CheckpointRequest] = []
        while True:
            reply = self.receive()
            if reply["action"] == "checkpoint":
                request = CheckpointRequest(
                    reply.get("sequenceNumber"), reply.get("subSequenceNumber"), action
                )
                asked.append(request)
                self.checkpoints.append(request)
                answer: dict[str, Any] = {
                    "action": "checkpoint",
                    "sequenceNumber": request.sequence_number,
                    "subSequenceNumber": request.sub_sequence_number,
                }
                error = on_checkpoint(request)
                if error is not None:
                    answer["error"] = error
                self.send(answer)
            elif reply["action"] == "status" and reply.get("responseFor") == action:
                return asked
            else:
                raise ProtocolError(f"unexpected message during {action}: {reply}")

    def initialize(
        self, shard_id: str, sequence_number: str = "TRIM_HORIZON", sub_sequence_number: int = 0
    ) -> None:
        """``initialize`` for ``shard_id``, resuming after the given checkpoint."""
        self.exchange(
            {
                "action": "initialize",
                "shardId": shard_id,
                "sequenceNumber": sequence_number,
                "subSequenceNumber": sub_sequence_number,
            }
        )

    def process_records(
        self,
        records: Sequence[Mapping[str, Any]],
        on_checkpoint: CheckpointAnswer = accept,
        *,
        millis_behind_latest: int = 0,
    ) -> list[CheckpointRequest]:
        """``processRecords`` with these records (see :func:`kcl_record`)."""
        return self.exchange(
            {
                "action": "processRecords",
                "records": list(records),
                "millisBehindLatest": millis_behind_latest,
            },
            on_checkpoint,
        )

    def lease_lost(self) -> list[CheckpointRequest]:
        """``leaseLost``: the child must not checkpoint."""
        return self.exchange({"action": "leaseLost"})

    def shard_ended(self, on_checkpoint: CheckpointAnswer = accept) -> list[CheckpointRequest]:
        """``shardEnded``: the child must checkpoint at SHARD_END."""
        return self.exchange({"action": "shardEnded"}, on_checkpoint)

    def shutdown_requested(
        self, on_checkpoint: CheckpointAnswer = accept
    ) -> list[CheckpointRequest]:
        """``shutdownRequested``: the child flushes and checkpoints."""
        return self.exchange({"action": "shutdownRequested"}, on_checkpoint)
