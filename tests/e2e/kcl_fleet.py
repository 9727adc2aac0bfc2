"""Several ``shardflow consume kcl`` workers of one KCL application, and a steady producer.

What the several-workers e2e test (``test_kcl_workers.py``) builds on :mod:`kcl_harness`:

* :class:`Producer`: a thread putting a few events into the stream every fraction of a
  second, as a live stream gets them, until stopped;
* :class:`Fleet`: the workers, each a :class:`~kcl_harness.Daemon` with its own worker id,
  work directory and, through ``--isolation netns``, its own loopback-only network
  namespace bridged to the emulator by a Unix socket (:mod:`consumers.kcl.isolation`); plus
  what the lease table says (who owns which shard, who leads) and what Athena would read
  in S3 (every object under the prefix without a ``_``- or ``.``-prefixed path segment).

Every wait is bounded and fails with what it last saw and the end of the workers' logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kcl_fleet_probe
import pytest
from kcl_harness import Condition, Daemon, Pipeline, handler_env
from readback import gzip_jsonl, visible_objects

logger = logging.getLogger(__name__)

#: How long the output may take to catch up with the producer after a step (lease moves,
#: a worker's start, a replay): measured ~10-30 s on an idle 2-core machine.
SETTLE_TIMEOUT = 180.0
#: Lease moves: a failover (5 s) plus the leader's assignment (every 2 s), or a start.
LEASE_TIMEOUT = 180.0


class Producer:
    """Puts ``count`` events into the stream every ``every`` seconds from a thread."""

    def __init__(self, p: Pipeline, *, every: float = 0.5, count: int = 12) -> None:
        self._p = p
        self._every = every
        self._count = count
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self.error: BaseException | None = None
        self.batches = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._p.produce(batch=self.batches, count=self._count)
                    self.batches += 1
                self._stop.wait(self._every)
        except BaseException as exc:  # reported by check() in the test's thread
            self.error = exc

    def start(self) -> None:
        """Start producing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop producing (returns after the last put)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self.check()

    def produced(self) -> list[str]:
        """The ids of every event put so far (an id is noted before its put)."""
        with self._lock:
            return list(self._p.ids)

    def check(self) -> None:
        """Fail the test if the producer thread failed."""
        if self.error is not None:
            pytest.fail(f"the producer failed: {type(self.error).__name__}: {self.error}")


@dataclass
class Worker:
    """One ``shardflow consume kcl`` of the fleet."""

    name: str
    daemon: Daemon
    seen_dir: Path
    freeze_dir: Path | None = None
    #: The test stopped it, or lets it exit (a zombie that stops): its exit fails nothing.
    may_exit: bool = False

    def stop_group(self, signum: int) -> None:
        """Send ``signum`` to the worker's whole process group (launcher, bridge, daemon,
        processors): SIGSTOP freezes the worker, SIGCONT resumes it."""
        os.killpg(self.daemon.proc.pid, signum)


@dataclass
class Fleet:
    """The workers of one application on the pipeline ``p``, and the producer."""

    p: Pipeline
    producer: Producer
    workers: dict[str, Worker] = field(default_factory=dict)
    _objects: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def running(cls, p: Pipeline) -> Iterator[Fleet]:
        """A fleet whose producer and workers are stopped (killed) at the end of the block."""
        fleet = cls(p, Producer(p))
        try:
            yield fleet
        finally:
            fleet.producer.stop()
            for worker in fleet.workers.values():
                with contextlib.suppress(ProcessLookupError):
                    worker.stop_group(signal.SIGCONT)  # a frozen worker cannot die of SIGKILL
                worker.daemon.__exit__(None, None, None)

    def start(
        self, name: str, *, env: dict[str, str] | None = None, freeze: bool = False
    ) -> Worker:
        """Start worker ``name`` (its KCL worker id) with the fleet probe as its handler."""
        seen_dir = self.p.workdir / f"seen-{name}"
        seen_dir.mkdir()
        probe_env = {kcl_fleet_probe.SEEN_DIR: str(seen_dir)}
        freeze_dir = None
        if freeze:
            freeze_dir = self.p.workdir / f"freeze-{name}"
            freeze_dir.mkdir()
            probe_env[kcl_fleet_probe.FREEZE_DIR] = str(freeze_dir)
        daemon = Daemon(
            self.p,
            name,
            handler_env("kcl_fleet_probe:observe", **probe_env, **(env or {})),
            extra_args=["--worker-id", name],
        )
        worker = Worker(name, daemon, seen_dir, freeze_dir)
        self.workers[name] = worker
        return worker

    def live(self) -> list[Worker]:
        """The workers still running."""
        return [w for w in self.workers.values() if w.daemon.proc.poll() is None]

    def tails(self) -> str:
        """The end of every worker's log, for failure messages."""
        return "\n".join(
            f"--- {w.name} (exit {w.daemon.proc.poll()}) ---\n{_tail(w.daemon, 15)}"
            for w in self.workers.values()
        )

    def wait_for(self, what: str, condition: Condition, timeout: float) -> float:
        """Poll ``condition`` until it holds (seconds it took), or fail after ``timeout``
        with what it last saw; a worker exiting unexpectedly fails at once."""
        start = time.monotonic()
        last = "not checked yet"
        while time.monotonic() - start < timeout:
            self.producer.check()
            for w in self.workers.values():
                if not w.may_exit and w.daemon.proc.poll() is not None:
                    pytest.fail(
                        f"{w.name} exited ({w.daemon.proc.returncode}) waiting for {what} "
                        f"({last}):\n{self.tails()}"
                    )
            try:
                done, last = condition()
            except Exception as exc:  # tables appear while the KCL starts
                last = f"{type(exc).__name__}: {exc}"
                done = False
            if done:
                return time.monotonic() - start
            time.sleep(0.5)
        pytest.fail(f"no {what} within {timeout:.0f}s (last seen: {last}):\n{self.tails()}")

    def note(self, label: str, seconds: float) -> float:
        """Record a timing and print it at once (shown even if a later step fails)."""
        self.p.timings[label] = seconds
        print(f"kcl workers timing: {label} {seconds:.1f}s")
        return seconds

    # -- the lease table -----------------------------------------------------------------

    def owners(self) -> dict[str, str | None]:
        """Each lease's owner (leaseOwner), None when unassigned."""
        return {key: item.get("leaseOwner", {}).get("S") for key, item in self.p.leases().items()}

    def held(self) -> dict[str, set[str]]:
        """The shards each owner holds."""
        out: dict[str, set[str]] = defaultdict(set)
        for shard, owner in self.owners().items():
            if owner is not None:
                out[owner].add(shard)
        return dict(out)

    def leader(self) -> str | None:
        """The worker holding KCL 3's ``Leader`` lock (it assigns and balances the leases)."""
        item = self.p.dynamodb.get_item(
            TableName=f"{self.p.app}-CoordinatorState",
            Key={"key": {"S": "Leader"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else item.get("ownerName", {}).get("S")

    def each_holds_one(self, names: list[str], since: float) -> tuple[Condition, dict[str, float]]:
        """A condition: every worker of ``names`` holds a lease; and the seconds from
        ``since`` at which each was first seen holding one."""
        first: dict[str, float] = {}

        def check() -> tuple[bool, str]:
            held = self.held()
            for name in names:
                if held.get(name) and name not in first:
                    first[name] = time.monotonic() - since
            return len(first) == len(names), f"leases {held}"

        return check, first

    def none_held_by(self, name: str) -> Condition:
        """A condition: no lease is owned by ``name``, every lease by a live worker."""
        live = {w.name for w in self.live()}

        def check() -> tuple[bool, str]:
            owners = self.owners()
            moved = all(owner is not None and owner != name for owner in owners.values())
            return moved and set(owners.values()) <= live, f"owners {owners}"

        return check

    # -- the output ------------------------------------------------------------------------

    def visible_ids(self) -> Counter[str]:
        """How many times each event id is in the objects Athena reads (re-reading only
        objects that are new or changed since the last call)."""
        objects = visible_objects(self.p.s3, self.p.bucket)
        for key in set(self._objects) - set(objects):
            del self._objects[key]
        for key, etag in objects.items():
            cached = self._objects.get(key)
            if cached is None or cached[0] != etag:
                body = self.p.s3.get_object(Bucket=self.p.bucket, Key=key)["Body"].read()
                self._objects[key] = (etag, [row["id"] for row in gzip_jsonl(body)])
        return Counter(i for _, ids in self._objects.values() for i in ids)

    def all_visible(self, ids: list[str]) -> Condition:
        """A condition: every event of ``ids`` is in the output."""

        def check() -> tuple[bool, str]:
            counts = self.visible_ids()
            missing = sum(1 for i in ids if counts[i] < 1)
            return missing == 0, f"{missing} of {len(ids)} events not in S3"

        return check

    def settle(self, context: str, timeout: float = SETTLE_TIMEOUT) -> float:
        """Wait until every event produced so far is in the output; then assert that no
        event is there twice and nothing unknown is. Seconds it took."""
        produced = self.producer.produced()
        took = self.wait_for(f"every event in S3 {context}", self.all_visible(produced), timeout)
        self.assert_once(context)
        return took

    def assert_once(self, context: str) -> None:
        """No event twice in the output, and no event nobody produced."""
        counts = self.visible_ids()
        produced = set(self.producer.produced())  # after the read: an id precedes its put
        unknown = len(set(counts) - produced)
        assert unknown == 0, f"{unknown} events nobody produced in S3 ({context})"
        twice = {i: n for i, n in counts.items() if n > 1}
        assert not twice, f"{len(twice)} events in S3 more than once ({context})"

    # -- what the processors received --------------------------------------------------

    def replayed(self, name: str) -> int:
        """Events a session (a processor's lease) of worker ``name`` received that a later
        session of the same shard, on another worker, received again."""
        sessions = [
            (w.name, rows)
            for w in self.workers.values()
            for rows in kcl_fleet_probe.sessions(w.seen_dir).values()
            if rows
        ]
        count = 0
        for owner, rows in sessions:
            if owner != name:
                continue
            shard, start = rows[0].shard, _position(rows[0])
            ids = {r.id for r in rows}
            again: set[str] = set()
            for other, other_rows in sessions:
                later = other_rows[0].shard == shard and _position(other_rows[0]) >= start
                if other != name and later:
                    again |= ids & {r.id for r in other_rows}
            count += len(again)
        return count

    def received(self, name: str) -> int:
        """Events worker ``name``'s processors received."""
        return sum(
            len(rows) for rows in kcl_fleet_probe.sessions(self.workers[name].seen_dir).values()
        )


def _position(seen: kcl_fleet_probe.Seen) -> tuple[int, int]:
    return seen.sequence_number, seen.sub_sequence_number


def _tail(daemon: Daemon, lines: int) -> str:
    return "\n".join(daemon.log.read_text(errors="replace").splitlines()[-lines:])


def process_state(pid: int) -> str | None:
    """The state letter of process ``pid`` (``T`` stopped, ``Z`` exited but not reaped),
    or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]
