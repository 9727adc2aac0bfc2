"""Exactly once under replay, tried hard: random streams, buffer settings, batch cuts, S3
errors (including PUTs that land but answer with an error) and crashes at any S3 call; and
two writers of one shard at once (a zombie and its successor), interleaved at any S3 call.

The S3 here is :class:`consumers.sink.testing.InMemoryObjectStore`, so thousands of
crash/replay histories run in seconds. After every history the output holds each event of the stream
exactly once, and no dead-lettered position.
"""

from __future__ import annotations

import gzip
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import Event, Origin, Position, S3Sink, SinkConfig, SinkError
from consumers.errors import FencedError
from consumers.sink.store import StoreError
from consumers.sink.testing import Hook, InMemoryObjectStore

SHARD = "shardId-000000000000"


class Crash(Exception):
    """The consumer process dies here."""


class FlakyS3:
    """The in-memory store, with requests that fail, land-then-fail, or crash the caller at
    random."""

    def __init__(self, rng: random.Random) -> None:
        self.store = InMemoryObjectStore()
        self.store.before = self._before
        self.store.after = self._after
        self.rng = rng
        self.fail = 0.0
        self.crash = 0.0
        self.interleave: Hook | None = None

    def _before(self, operation: str, key: str) -> None:
        if self.interleave is not None:
            self.interleave(operation, key)
        roll = self.rng.random()
        if roll < self.crash:
            raise Crash(operation)
        if roll < self.crash + self.fail:
            raise StoreError(f"{operation} {key}: slow down", error_code="SlowDown")

    def _after(self, operation: str, key: str) -> None:
        if operation == "PutObject" and self.rng.random() < self.fail / 2:
            # it landed, but the answer is an error
            raise StoreError(f"{operation} {key}: timed out", error_code="RequestTimeout")

    def sink(self, config: SinkConfig) -> S3Sink:
        return S3Sink("b", stream="s", config=config, store=self.store)

    def events_written(self) -> Counter[tuple[str, int | None]]:
        rows: Counter[tuple[str, int | None]] = Counter()
        for body in self.store.visible().values():
            for line in gzip.decompress(body).splitlines():
                row = orjson.loads(line)
                rows[(row["sequence_number"], row["sub_sequence_number"])] += 1
        return rows


Item = tuple[Origin, Event | None]  # None: a poison record, dead-lettered


def _stream(rng: random.Random) -> list[list[Item]]:
    """Kinesis records (plain or KPL aggregates), each a list of (origin, event or None)."""
    t0 = datetime(2026, 11, 26, 23, 58, tzinfo=UTC)
    seq, records = 10**20, []
    for i in range(rng.randint(1, 30)):
        seq += rng.randint(1, 9)
        arrival = t0 + timedelta(seconds=i * rng.choice([0.1, 1, 7]))
        subs: list[int | None] = list(range(rng.randint(1, 4))) if rng.random() < 0.4 else [None]
        record: list[Item] = []
        for sub in subs:
            origin = Origin("s", SHARD, str(seq), sub, f"pk{i}", arrival)
            time = arrival + timedelta(minutes=rng.choice([-90, 0, 1, 30]))
            envelope = {"id": f"{seq}.{sub}", "source": "t", "type": "t", "specversion": "1.0"}
            event = Event(envelope, origin, b"x" * rng.randint(50, 400), time)
            record.append((origin, None if rng.random() < 0.05 else event))
        records.append(record)
    return records


def _config(rng: random.Random) -> SinkConfig:
    return SinkConfig(
        format="jsonl",
        max_bytes=rng.choice([1024, 3000, 64 * 1024 * 1024]),
        max_records=rng.choice([1, 3, 7, 1_000_000]),
        max_span_seconds=rng.choice([1, 5, 300]),
    )


def _faults(s3: FlakyS3, rng: random.Random, attempt: int) -> None:
    calm = attempt > 60  # every history ends: faults stop after a while
    s3.fail = 0.0 if calm else rng.choice([0.0, 0.03, 0.1])
    s3.crash = 0.0 if calm else rng.choice([0.0, 0.03, 0.08])


def _assert_exactly_once(records: list[list[Item]], s3: FlakyS3) -> None:
    expected = Counter(
        (o.sequence_number, o.sub_sequence_number) for r in records for o, e in r if e
    )
    assert s3.events_written() == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_a_kcl_style_writer_restarting_from_its_checkpoint_writes_each_event_once(
    rng: random.Random,
) -> None:
    s3 = FlakyS3(rng)
    records = _stream(rng)
    items = [item for record in records for item in record]
    checkpoint = None
    for attempt in range(100):
        _faults(s3, rng, attempt)
        try:
            writer = s3.sink(_config(rng)).shard(SHARD, resume_from=checkpoint)
            for origin, event in items:
                while True:  # a failed call is retried with the same record, or we crash
                    try:
                        writer.skip(origin) if event is None else writer.add(event)
                        break
                    except SinkError:
                        if rng.random() < 0.3:
                            raise Crash("gave up") from None
                if writer.checkpointable is not None and rng.random() < 0.3:
                    checkpoint = writer.checkpointable
            while True:
                try:
                    writer.flush()
                    break
                except SinkError:
                    pass
            checkpoint = writer.checkpointable
            break
        except Crash:
            continue
    _assert_exactly_once(records, s3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_lambda_style_batches_cut_anywhere_and_retried_write_each_event_once(
    rng: random.Random,
) -> None:
    s3 = FlakyS3(rng)
    records = _stream(rng)
    done = 0  # records before this one are checkpointed
    for attempt in range(200):
        if done == len(records):
            break
        _faults(s3, rng, attempt)
        batch = records[done : done + rng.randint(1, 10)]
        # The records that succeeded (all of them once faults have stopped).
        prefix = batch if attempt > 60 else batch[: rng.randint(0, len(batch))]
        writer = s3.sink(_config(rng)).shard(SHARD)
        try:
            writer.write_batch(
                [e for r in prefix for _, e in r if e is not None],
                skipped=[o for r in prefix for o, e in r if e is None],
            )
            done += len(prefix)
        except SinkError:
            # Reported as failed from the first record past what is durable.
            durable = writer.checkpointable
            while durable is not None and done < len(records):
                if max(o.position for o, _ in records[done]) > durable:
                    break
                done += 1
        except Crash:
            pass  # the invocation died: Lambda retries the batch
    assert done == len(records)
    _assert_exactly_once(records, s3)


class _Runner:
    """One writer of the shard fed from its start, one record (or flush) per step."""

    def __init__(self, s3: FlakyS3, rng: random.Random, resume_from: Position | None) -> None:
        self.writer = s3.sink(_config(rng)).shard(SHARD, resume_from=resume_from)
        self.rng = rng
        self.next = 0
        self.alive = True
        self.busy = False  # inside a call to its writer (frozen there when the other runs)

    def step(self, items: list[Item]) -> None:
        """Consume the next record, or flush (at random, and after the last record)."""
        self.busy = True
        try:
            if self.next < len(items) and self.rng.random() < 0.9:
                origin, event = items[self.next]
                self.writer.skip(origin) if event is None else self.writer.add(event)
                self.next += 1  # on an error the same record is given again
            else:
                self.writer.flush()
        except FencedError:
            self.alive = False  # it stops, as on a lost lease
        except SinkError:
            pass
        except Crash:
            self.alive = False
        finally:
            self.busy = False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_two_writers_of_one_shard_interleaved_frozen_and_crashing_write_each_event_once(
    rng: random.Random,
) -> None:
    """A zombie (the first writer) and its successor, which starts from the last checkpoint
    or from an older one, run interleaved at random: between records and, freezing one of
    them, at any S3 request of the other; either may crash at any request (a crashed or
    fenced successor restarts from the checkpoint). Then the zombie is gone for good and
    the successor, with faults over, reads to the end and flushes."""
    s3 = FlakyS3(rng)
    records = _stream(rng)
    items = [item for record in records for item in record]
    s3.fail = rng.choice([0.0, 0.03, 0.1])
    s3.crash = rng.choice([0.0, 0.02, 0.05])
    zombie = _Runner(s3, rng, None)
    checkpoint: list[Position | None] = [None]  # the lease table's; only the owner's counts
    for _ in range(rng.randint(0, len(items) + 2)):
        if zombie.alive:
            zombie.step(items)
            if zombie.writer.checkpointable is not None and rng.random() < 0.3:
                checkpoint[0] = zombie.writer.checkpointable
    owner = _Runner(s3, rng, rng.choice([checkpoint[0], None]))
    runners = {"owner": owner}

    def interleave(operation: str, key: str) -> None:
        # One writer frozen at this request while the other one runs a few steps.
        if rng.random() < 0.15:
            for other in (zombie, runners["owner"]):
                if other.alive and not other.busy:
                    for _ in range(rng.randint(1, 8)):
                        if other.alive:
                            other.step(items)
                    return

    s3.interleave = interleave
    for _ in range(4 * len(items) + 20):
        current = runners["owner"]
        if not current.alive:
            current = runners["owner"] = _Runner(s3, rng, checkpoint[0])
        runner = zombie if zombie.alive and rng.random() < 0.5 else current
        runner.step(items)
        if runner is current and current.alive and rng.random() < 0.3:
            checkpoint[0] = current.writer.checkpointable or checkpoint[0]
    # The zombie never runs again; faults stop; the surviving writer goes to the end.
    s3.interleave = None
    s3.fail = s3.crash = 0.0
    survivor = runners["owner"]
    if not survivor.alive:
        survivor = _Runner(s3, rng, checkpoint[0])
    for origin, event in items[survivor.next :]:
        survivor.writer.skip(origin) if event is None else survivor.writer.add(event)
    survivor.writer.flush()
    _assert_exactly_once(records, s3)
