"""The object store under the sink: the few S3 requests a shard writer makes, and S3's answer.

:class:`ObjectStore` is what :class:`~consumers.sink.ShardWriter` talks to; :class:`S3ObjectStore`
is it on a boto3 S3 client, :class:`consumers.sink.testing.InMemoryObjectStore` in memory
(tests). Conditional writes follow S3's semantics: ``put(..., if_none_match=True)`` creates
only if the key is absent, ``put(..., if_match=etag)`` replaces only that version; a lost race
raises :class:`PreconditionFailedError` (HTTP 412), a concurrent conditional write may raise
:class:`ConditionalConflictError` (HTTP 409; retry it).

Errors carry no stream or shard: the writer adds that context when it re-raises them as
:class:`~consumers.errors.SinkError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from consumers.errors import SinkError
from shardflow import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DELETE_BATCH: Final = 1000  # DeleteObjects' limit


class StoreError(SinkError):
    """An object store request failed; ``error_code`` is S3's code when it answered."""


class PreconditionFailedError(StoreError):
    """A conditional write lost: the key exists (``if_none_match``) or is not the version
    named (``if_match``). HTTP 412."""


class ConditionalConflictError(StoreError):
    """Another conditional write to the key was in flight. HTTP 409: retry."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's body and its entity tag (what ``if_match`` names)."""

    body: bytes
    etag: str
    content_type: str = ""


class ObjectStore(Protocol):
    """The requests a shard writer makes; see the module docstring."""

    @property
    def location(self) -> str:
        """Where the objects are, for messages (``s3://bucket``)."""
        ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """PutObject; returns the new object's entity tag."""
        ...

    def get(self, key: str) -> StoredObject | None:
        """GetObject; None when the key does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """HeadObject: does the key exist?"""
        ...

    def copy(self, source: str, target: str) -> bool:
        """CopyObject within the store; False when ``source`` does not exist."""
        ...

    def list_keys(self, prefix: str, *, start_after: str = "") -> list[str]:
        """Keys under ``prefix`` greater than ``start_after``, ascending (all pages)."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete these keys (absent ones are not an error)."""
        ...


def _error(what: str, exc: Exception) -> StoreError:
    code = aws.error_code(exc)
    kind: type[StoreError] = StoreError
    if code == "PreconditionFailed":
        kind = PreconditionFailedError
    elif code == "ConditionalRequestConflict":
        kind = ConditionalConflictError
    return kind(f"{what} failed: {exc}", error_code=code)


def _missing(exc: Exception) -> bool:
    return aws.error_code(exc) in {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore:
    """:class:`ObjectStore` on a boto3 S3 client and one bucket.

    ``page_size`` bounds the keys per ListObjectsV2 page (S3's default, 1,000, when None).
    """

    def __init__(self, s3_client: S3Client | Any, bucket: str, *, page_size: int | None = None):
        self._s3 = s3_client
        self.bucket = bucket
        self._page_size = page_size

    @property
    def location(self) -> str:
        """``s3://bucket``."""
        return f"s3://{self.bucket}"

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """PutObject, conditional when asked."""
        kwargs: dict[str, Any] = {}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            resp = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **kwargs
            )
        except (ClientError, BotoCoreError) as exc:
            if if_match is not None and _missing(exc):
                # S3 answers 404 to IfMatch on a key that is gone: not the version named either
                raise PreconditionFailedError(
                    f"PutObject {self.location}/{key} failed: no such key", error_code="NoSuchKey"
                ) from exc
            raise _error(f"PutObject {self.location}/{key}", exc) from exc
        return str(resp.get("ETag", ""))

    def get(self, key: str) -> StoredObject | None:
        """GetObject."""
        try:
            resp = self._s3.get_object(Bucket=self.bucket, Key=key)
            return StoredObject(
                resp["Body"].read(), str(resp.get("ETag", "")), str(resp.get("ContentType", ""))
            )
        except (ClientError, BotoCoreError) as exc:
            if _missing(exc):
                return None
            raise _error(f"GetObject {self.location}/{key}", exc) from exc

    def exists(self, key: str) -> bool:
        """HeadObject."""
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if _missing(exc):
                return False
            raise _error(f"HeadObject {self.location}/{key}", exc) from exc
        return True

    def copy(self, source: str, target: str) -> bool:
        """CopyObject (server side: the bytes do not come back through the client)."""
        try:
            self._s3.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            )
        except (ClientError, BotoCoreError) as exc:
            if _missing(exc):
                return False
            raise _error(f"CopyObject {self.location}/{source} to {target}", exc) from exc
        return True

    def list_keys(self, prefix: str, *, start_after: str = "") -> list[str]:
        """ListObjectsV2, every page."""
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        if self._page_size is not None:
            kwargs["MaxKeys"] = self._page_size
        try:
            while True:
                resp = self._s3.list_objects_v2(**kwargs)
                keys += [obj["Key"] for obj in resp.get("Contents", [])]
                if not resp.get("IsTruncated"):
                    return keys
                kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(f"ListObjectsV2 {self.location}/{prefix}", exc) from exc

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys per request."""
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            try:
                resp = self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise _error(f"DeleteObjects in {self.location}", exc) from exc
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise StoreError(
                    f"DeleteObjects failed for {self.location}/{first.get('Key')}: "
                    f"{first.get('Message')}",
                    error_code=first.get("Code"),
                )
