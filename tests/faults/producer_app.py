"""An application that emits events and is stopped with SIGTERM (the fault suite's case 6).

``python producer_app.py STREAM ENDPOINT OUTCOMES`` puts events of the mix until SIGTERM,
then closes the producer with a short timeout, as an application's shutdown hook should.
Every event leaves one line in OUTCOMES: ``accepted ID`` once ``put`` returned, then
``ack ID`` (delivered) or ``fail ID ERROR`` (its future's error, also given to
``on_failure``). The test counts both sides against the stream.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))

from harness import event_mix

from producers import BufferFullError, EventProducer, ProducerConfig


def main() -> int:
    stream, endpoint, outcomes_path = sys.argv[1:4]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    out = Path(outcomes_path).open("a", buffering=1)  # noqa: SIM115 - closed at exit

    def write(line: str) -> None:
        with lock:
            out.write(line + "\n")

    def done(event_id: str) -> Any:
        def callback(future: Any) -> None:
            error = future.exception()
            write(f"ack {event_id}" if error is None else f"fail {event_id} {type(error).__name__}")

        return callback

    kinesis = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(connect_timeout=2, read_timeout=10),
    )
    # A small buffer that fills: the proxy throttles most entries, so records wait.
    config = ProducerConfig(
        max_record_bytes=8 * 1024, max_buffer_bytes=256 * 1024, put_timeout=0.5, record_ttl=120
    )
    producer = EventProducer(stream, client=kinesis, config=config)
    print("ready", flush=True)
    for start in range(0, 10_000_000, 1000):
        for event, key in event_mix(1000, start=start):
            if stop.is_set():
                break
            try:
                future = producer.put(event, key)
            except BufferFullError:
                continue  # not accepted: the application knows (nothing to account for)
            write(f"accepted {event['id']}")
            future.add_done_callback(done(event["id"]))
        if stop.is_set():
            break
    producer.close(timeout=3)
    write("closed")
    out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
