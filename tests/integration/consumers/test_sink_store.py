"""The sink's object store on the emulator's S3: conditional writes answer as S3 does."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.sink.store import PreconditionFailedError, S3ObjectStore


def test_if_none_match_creates_only_when_absent(s3: Any, bucket: str) -> None:
    store = S3ObjectStore(s3, bucket)
    etag = store.put("k", b"one", content_type="text/plain", if_none_match=True)
    with pytest.raises(PreconditionFailedError) as err:
        store.put("k", b"two", content_type="text/plain", if_none_match=True)
    assert err.value.error_code == "PreconditionFailed"
    found = store.get("k")
    assert found is not None and (found.body, found.etag) == (b"one", etag)


def test_if_match_replaces_only_the_version_read(s3: Any, bucket: str) -> None:
    store = S3ObjectStore(s3, bucket)
    first = store.put("k", b"one", content_type="text/plain")
    second = store.put("k", b"two", content_type="text/plain", if_match=first)
    assert second != first
    with pytest.raises(PreconditionFailedError):
        store.put("k", b"three", content_type="text/plain", if_match=first)  # a stale read
    with pytest.raises(PreconditionFailedError):
        store.put("absent", b"x", content_type="text/plain", if_match=first)
    found = store.get("k")
    assert found is not None and found.body == b"two"


def test_missing_keys_copies_listing_pages_and_deletes(s3: Any, bucket: str) -> None:
    store = S3ObjectStore(s3, bucket, page_size=2)
    assert store.get("nothing") is None
    assert not store.exists("nothing")
    assert store.copy("nothing", "target") is False
    for i in range(5):
        store.put(f"p/{i}", str(i).encode(), content_type="text/plain")
    assert store.copy("p/0", "q/0") is True
    found = store.get("q/0")
    assert found is not None and found.body == b"0" and store.exists("q/0")
    assert store.list_keys("p/") == [f"p/{i}" for i in range(5)]  # three pages
    assert store.list_keys("p/", start_after="p/2") == ["p/3", "p/4"]
    store.delete(["p/0", "p/1", "absent"])
    assert store.list_keys("p/") == ["p/2", "p/3", "p/4"]
