"""Object store adapter: MinIO, or any S3-compatible server, through the ``minio`` SDK.

Each write is checked: after a PUT the object's stored size must equal the bytes sent, because
some S3 stand-ins (moto) silently store 0 bytes for a form Content-Type.  For the same reason form
Content-Types are never sent.  SDK and urllib3 exceptions are translated at this boundary:
connection problems and 5xx answers become :class:`StorageUnavailable`, the rest
:class:`StorageError`, a missing key :class:`NotFound`, always chained ``from exc``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Iterator

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name

from sharedcenter.errors import NotFound, StorageError, StorageUnavailable
from sharedcenter.storage.base import ObjectStore, check_key

__all__ = ["MinioObjectStore"]

logger = logging.getLogger(__name__)

_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject"})
_TRANSIENT_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})


def _content_type(value: str) -> str:
    """The Content-Type to send: ``value``, except that an empty or form type becomes octet-stream."""
    base = value.split(";", 1)[0].strip().lower()
    if base and "/" in base and base not in _FORM_TYPES:
        return value
    if base:
        logger.warning("content type %r is not sent to S3; using %s", value, _DEFAULT_CONTENT_TYPE)
    return _DEFAULT_CONTENT_TYPE


def _http_client(timeout: float, retries: int) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class MinioObjectStore(ObjectStore):
    """Objects in one bucket of a MinIO (S3) server; the bucket is created on first use.

    Parameters
    ----------
    endpoint
        ``host:port`` of the server, without scheme.
    access_key, secret_key
        Credentials; give the worker its own least-privilege key.
    bucket
        The bucket; created (once, lazily) when missing.
    secure
        Use HTTPS.
    region
        The bucket's region (MinIO's default is ``us-east-1``).
    timeout
        Seconds to wait for the server to answer a request.
    retries
        How often urllib3 retries a failed connection or a 5xx answer before giving up.
    """

    name = "minio"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        if not endpoint or "://" in endpoint or "/" in endpoint:
            raise ValueError(f"endpoint {endpoint!r} must be host:port without scheme or path")
        try:
            check_bucket_name(bucket, strict=True)
        except ValueError as exc:
            raise ValueError(f"bucket {bucket!r}: 3-63 lower-case letters, digits, '.' and '-' ({exc})") from exc
        self.endpoint, self.bucket, self.region = endpoint, bucket, region
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(timeout, retries),
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MinioObjectStore({self.endpoint!r}, bucket={self.bucket!r})"

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Turn SDK and urllib3 exceptions raised inside the block into storage errors."""
        where = f"S3 {self.endpoint}/{self.bucket}"
        try:
            yield
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise NotFound(f"no object ({what}) in {where}") from exc
            error = StorageUnavailable if exc.code in _TRANSIENT_CODES else StorageError
            raise error(f"{where} refused {what}: {exc.code}: {exc.message}") from exc
        except ServerError as exc:
            raise StorageUnavailable(f"{where} failed {what}: HTTP {exc.status_code}") from exc
        except MinioException as exc:
            raise StorageError(f"{where} failed {what}: {exc}") from exc
        except StorageError:
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(f"{where} did not answer ({what}): {exc}") from exc

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock, self._translated("create bucket"):
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket, location=self.region)
                except S3Error as exc:
                    if exc.code != "BucketAlreadyOwnedByYou":  # lost a race with another process
                        raise
                logger.info("created bucket %s on %s", self.bucket, self.endpoint)
            self._bucket_ready = True

    def put(self, key: str, data: bytes, content_type: str = _DEFAULT_CONTENT_TYPE) -> None:
        """Store ``data`` under ``key`` and check that the server kept every byte.

        Raises
        ------
        ValueError
            ``key`` is empty, absolute, or contains ``..`` or a backslash.
        StorageUnavailable
            The server cannot be reached or answers 5xx.
        StorageError
            The server refused the write, or stored a different size (the object is then removed).
        """
        check_key(key)
        self._ensure_bucket()
        with self._translated(f"put {key!r}"):
            self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=_content_type(content_type)
            )
            stored = self._client.stat_object(self.bucket, key).size
        if stored != len(data):
            self._remove_bad(key)
            raise StorageError(f"S3 {self.endpoint}/{self.bucket} stored {stored} bytes for {key!r}, not {len(data)}")

    def _remove_bad(self, key: str) -> None:
        try:
            with self._translated(f"remove {key!r}"):
                self._client.remove_object(self.bucket, key)
        except StorageError:
            logger.warning("could not remove the short object %r", key, exc_info=True)

    def get(self, key: str) -> bytes:
        """The bytes under ``key``.

        Raises
        ------
        NotFound
            Nothing is stored under ``key``.
        StorageUnavailable
            The server cannot be reached or answers 5xx.
        """
        check_key(key)
        self._ensure_bucket()
        with self._translated(f"get {key!r}"):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """The stored size in bytes.

        Raises
        ------
        NotFound
            Nothing is stored under ``key``.
        """
        check_key(key)
        self._ensure_bucket()
        with self._translated(f"stat {key!r}"):
            size = self._client.stat_object(self.bucket, key).size
        if size is None:
            raise StorageError(f"S3 {self.endpoint} gave no size for {key!r}")
        return int(size)

    def check(self) -> None:
        """Raise :class:`StorageUnavailable` when the server does not answer."""
        with self._translated("check"):
            self._client.bucket_exists(self.bucket)
