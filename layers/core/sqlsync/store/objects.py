"""Files that imports read (CSV uploads): S3 in AWS, a dict in tests.

Imports read a file in slices across several invocations, so a file is opened at a byte offset (an S3
ranged GET) rather than read whole. What is opened is buffered: the CSV reader reads line by line.
"""

from __future__ import annotations

import io
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from sqlsync.store.exceptions import StoreError

READ_BUFFER_BYTES = 1024 * 1024


class ObjectStore(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""

    @abstractmethod
    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """The object from byte `offset` to its end (empty at or past the end)."""

    @abstractmethod
    def upload_url(self, key: str, expires_in: int) -> str:
        """A URL that accepts one HTTP PUT of the object's content for `expires_in` seconds."""


class S3ObjectStore(ObjectStore):
    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Signature version 4 for upload URLs: S3 refuses version 2 in newer regions.
            self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
        return self._client

    def put(self, key: str, data: bytes) -> None:
        with self._calling("PutObject", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="text/csv")

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"S3 HeadObject {self.bucket}/{key} failed: {exc}") from exc
        return int(head["ContentLength"])

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={offset}-")["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "InvalidRange":  # at or past the end (an empty object included): nothing left to read
                return io.BytesIO(b"")
            if code in ("NoSuchKey", "404"):
                raise StoreError(f"S3 object {self.bucket}/{key} is gone") from exc
            raise StoreError(f"S3 GetObject {self.bucket}/{key} failed: {exc}") from exc
        return io.BufferedReader(_Raw(body), READ_BUFFER_BYTES)

    def upload_url(self, key: str, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    @contextmanager
    def _calling(self, operation: str, key: str) -> Iterator[None]:
        """boto3's failures leave as StoreError, as every store's do, with the cause kept."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 {operation} {self.bucket}/{key} failed: {exc}") from exc


class _Raw(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so that io.BufferedReader can give readline() its speed."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


class InMemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self.objects[key] = bytes(data)

    def size(self, key: str) -> int | None:
        with self._lock:
            data = self.objects.get(key)
        return None if data is None else len(data)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        with self._lock:
            data = self.objects.get(key)
        if data is None:
            raise StoreError(f"object {key!r} is gone")
        return io.BytesIO(data[offset:])

    def upload_url(self, key: str, expires_in: int) -> str:
        return f"memory://{key}?expires_in={expires_in}"
