"""One contract suite for every storage adapter, run against real servers (no mocks).

DICOM stores: the folder store and Orthanc (a private Orthanc 1.10.1 per session).  Object stores:
the folder store and the MinIO adapter against moto's S3 server (a unique bucket per test).  Each
test re-UIDs pydicom's sample files, so tests never see each other's studies.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from sharedcenter.errors import InvalidInput, NotFound, StorageError, StorageUnavailable
from sharedcenter.storage import minio as minio_adapter
from sharedcenter.storage.base import DicomStore, ObjectStore
from sharedcenter.storage.folder import FolderDicomStore, FolderObjectStore
from sharedcenter.storage.minio import MinioObjectStore
from sharedcenter.storage.orthanc import OrthancDicomStore
from tests.servers import OrthancServer, S3Server, c_store, free_port, wait_stable
from tests.utils import dicom_bytes

SAMPLES = ("CT_small.dcm", "MR_small.dcm")
MISSING_ORTHANC_ID = "00000000-00000000-00000000-00000000-00000000"


# -- data factories ------------------------------------------------------------------------------


def sample_bytes(name: str, study_uid: str | None = None, series_uid: str | None = None) -> bytes:
    """A pydicom sample file with fresh UIDs (or the given study and series UIDs)."""
    return dicom_bytes(name, study_uid=study_uid, SeriesInstanceUID=series_uid or generate_uid())


def sample_dataset(name: str, study_uid: str | None = None, series_uid: str | None = None) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(sample_bytes(name, study_uid, series_uid)))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=["folder", pytest.param("orthanc", marks=pytest.mark.servers)])
def dicom_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DicomStore]:
    if request.param == "folder":
        yield FolderDicomStore(tmp_path / "dicom")
        return
    server: OrthancServer = request.getfixturevalue("orthanc_server")
    with server.dicom_store() as store:
        yield store


@pytest.fixture(params=["folder", pytest.param("minio", marks=pytest.mark.servers)])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "folder":
        return FolderObjectStore(tmp_path / "objects")
    server: S3Server = request.getfixturevalue("s3_server")
    return server.object_store()


@pytest.fixture
def orthanc(orthanc_server: OrthancServer) -> Iterator[OrthancDicomStore]:
    with orthanc_server.dicom_store() as store:
        yield store


@pytest.fixture
def orthanc_rest(orthanc_server: OrthancServer) -> Iterator[httpx.Client]:
    """Orthanc's REST API directly, for what the adapter does not offer (deleting a study)."""
    auth = (orthanc_server.user, orthanc_server.password)
    with httpx.Client(base_url=orthanc_server.url, auth=auth, timeout=10) as client:
        yield client


# -- DICOM store contract ------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_store_then_fetch_gives_identical_bytes(dicom_store: DicomStore, sample: str) -> None:
    data = sample_bytes(sample)
    ds = pydicom.dcmread(io.BytesIO(data))
    stored = dicom_store.store(data)
    assert stored.new is True
    assert (stored.study_instance_uid, stored.series_instance_uid, stored.sop_instance_uid) == (
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
    )
    assert sha256(dicom_store.fetch(stored.store_id)) == sha256(data)


def test_store_again_is_harmless(dicom_store: DicomStore) -> None:
    data = sample_bytes("CT_small.dcm")
    first = dicom_store.store(data)
    second = dicom_store.store(data)
    assert second.new is False
    assert second.store_id == first.store_id
    assert second.sop_instance_uid == first.sop_instance_uid
    assert dicom_store.instance_ids(first.study_instance_uid) == [first.store_id]
    assert dicom_store.fetch(first.store_id) == data


def test_instance_ids_lists_every_instance_of_the_study(dicom_store: DicomStore) -> None:
    study, series = generate_uid(), generate_uid()
    blobs = [sample_bytes("CT_small.dcm", study, series), sample_bytes("CT_small.dcm", study, series)]
    other = dicom_store.store(sample_bytes("MR_small.dcm"))  # another study, must not show up
    ids = [dicom_store.store(b).store_id for b in blobs]
    assert sorted(dicom_store.instance_ids(study)) == sorted(ids)
    assert other.store_id not in dicom_store.instance_ids(study)
    assert sorted(sha256(b) for b in dicom_store.iter_study(study)) == sorted(sha256(b) for b in blobs)


def test_unknown_study_has_no_instances(dicom_store: DicomStore) -> None:
    assert dicom_store.instance_ids(generate_uid()) == []


@pytest.mark.parametrize("payload", [b"", b"not a DICOM file", b"\0" * 128 + b"DICM"])
def test_non_dicom_bytes_are_invalid_input(dicom_store: DicomStore, payload: bytes) -> None:
    with pytest.raises(InvalidInput):
        dicom_store.store(payload)


def test_fetch_missing_instance_is_not_found(dicom_store: DicomStore) -> None:
    missing = MISSING_ORTHANC_ID if dicom_store.name == "orthanc" else f"{generate_uid()}/1.2/3.dcm"
    with pytest.raises(NotFound):
        dicom_store.fetch(missing)
    with pytest.raises(NotFound):
        dicom_store.fetch("nope")


def test_check_passes_when_reachable(dicom_store: DicomStore) -> None:
    dicom_store.check()


def test_folder_store_has_no_change_feed(tmp_path: Path) -> None:
    assert FolderDicomStore(tmp_path).study_changes(7) == ([], 7, True)


# -- Orthanc specifics ---------------------------------------------------------------------------


@pytest.mark.servers
def test_c_store_from_known_ae_is_reported_stable_with_its_ae_title(
    orthanc_server: OrthancServer, orthanc: OrthancDicomStore
) -> None:
    since = orthanc_server.last_change()
    study, series = generate_uid(), generate_uid()
    datasets = [sample_dataset("CT_small.dcm", study, series) for _ in range(3)]
    assert c_store(orthanc_server, "C01T01DR", datasets) == [0, 0, 0]
    change = wait_stable(orthanc, since, study)
    assert change.calling_ae_title == "C01T01DR"
    assert change.instance_count == 3
    assert change.seq > since
    assert len(orthanc.instance_ids(study)) == 3


@pytest.mark.servers
def test_rest_upload_is_reported_stable_without_ae_title(
    orthanc_server: OrthancServer, orthanc: OrthancDicomStore
) -> None:
    since = orthanc_server.last_change()
    stored = orthanc.store(sample_bytes("MR_small.dcm"))
    change = wait_stable(orthanc, since, stored.study_instance_uid)
    assert change.calling_ae_title is None
    assert change.instance_count == 1


@pytest.mark.servers
def test_c_store_from_unknown_ae_is_refused(orthanc_server: OrthancServer, orthanc: OrthancDicomStore) -> None:
    ds = sample_dataset("CT_small.dcm")
    assert c_store(orthanc_server, "INTRUDER", [ds]) == []
    assert orthanc.instance_ids(ds.StudyInstanceUID) == []


@pytest.mark.servers
def test_study_deleted_before_the_feed_is_read_is_skipped(
    orthanc_server: OrthancServer, orthanc: OrthancDicomStore, orthanc_rest: httpx.Client
) -> None:
    since = orthanc_server.last_change()
    deleted = orthanc.store(sample_bytes("CT_small.dcm"))
    kept = orthanc.store(sample_bytes("MR_small.dcm"))
    wait_stable(orthanc, since, kept.study_instance_uid)
    study_id = orthanc_rest.get(f"/instances/{deleted.store_id}/study").json()["ID"]
    orthanc_rest.delete(f"/studies/{study_id}").raise_for_status()
    changes, cursor, done = orthanc.study_changes(since, limit=1000)
    uids = {c.study_instance_uid for c in changes}
    assert kept.study_instance_uid in uids
    assert deleted.study_instance_uid not in uids
    assert cursor > since


@pytest.mark.servers
def test_feed_pages_with_the_cursor(orthanc_server: OrthancServer, orthanc: OrthancDicomStore) -> None:
    since = orthanc_server.last_change()
    stored = orthanc.store(sample_bytes("CT_small.dcm"))
    wait_stable(orthanc, since, stored.study_instance_uid)
    seen, cursor, done = [], since, False
    while not done:
        changes, next_cursor, done = orthanc.study_changes(cursor, limit=1)
        assert next_cursor >= cursor
        seen += changes
        cursor = next_cursor
    assert [c.study_instance_uid for c in seen].count(stored.study_instance_uid) == 1
    assert orthanc.study_changes(cursor) == ([], cursor, True)


@pytest.mark.servers
def test_restart_keeps_data_and_cursor(orthanc_server: OrthancServer, orthanc: OrthancDicomStore) -> None:
    since = orthanc_server.last_change()
    data = sample_bytes("CT_small.dcm")
    stored = orthanc.store(data)
    wait_stable(orthanc, since, stored.study_instance_uid)
    orthanc_server.stop()
    try:
        with pytest.raises(StorageUnavailable):
            orthanc.check()
        with pytest.raises(StorageUnavailable):
            orthanc.store(sample_bytes("CT_small.dcm"))
    finally:
        orthanc_server.start()
    orthanc.check()  # the same connection pool recovers
    assert orthanc.fetch(stored.store_id) == data
    assert wait_stable(orthanc, since, stored.study_instance_uid).instance_count == 1


@pytest.mark.servers
def test_wrong_password_is_a_storage_error(orthanc_server: OrthancServer) -> None:
    with (
        OrthancDicomStore(orthanc_server.url, orthanc_server.user, "wrong") as store,
        pytest.raises(StorageError) as caught,
    ):
        store.check()
    assert not isinstance(caught.value, StorageUnavailable)


def test_unreachable_orthanc_is_unavailable() -> None:
    with OrthancDicomStore(f"http://127.0.0.1:{free_port()}", "u", "p", timeout=2) as store:
        with pytest.raises(StorageUnavailable) as caught:
            store.store(sample_bytes("CT_small.dcm"))
        assert isinstance(caught.value.__cause__, httpx.TransportError)
        with pytest.raises(StorageUnavailable):
            store.instance_ids(generate_uid())
        with pytest.raises(StorageUnavailable):
            store.fetch(MISSING_ORTHANC_ID)
        with pytest.raises(StorageUnavailable):
            store.study_changes(0)
        with pytest.raises(StorageUnavailable):
            store.check()


class _Failing(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with 503, as an overloaded proxy or Orthanc would."""

    def _fail(self) -> None:
        body = json.dumps({"Message": "overloaded", "Details": "try later"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _fail

    def log_message(self, format: str, *args: object) -> None:  # silence the default logging
        return


@pytest.fixture(scope="module")
def failing_server() -> Iterator[str]:
    """``host:port`` of a real HTTP server that answers 503 to everything."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_orthanc_5xx_is_unavailable(failing_server: str) -> None:
    with OrthancDicomStore(f"http://{failing_server}", "u", "p") as store:
        with pytest.raises(StorageUnavailable, match="overloaded: try later") as caught:
            store.store(sample_bytes("CT_small.dcm"))
        assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
        with pytest.raises(StorageUnavailable):
            store.study_changes(0)


def test_s3_5xx_is_unavailable(failing_server: str) -> None:
    store = MinioObjectStore(failing_server, "k", "s", "sc-test", retries=1)
    with pytest.raises(StorageUnavailable):
        store.put("a", b"x")
    with pytest.raises(StorageUnavailable):
        store.check()


def test_orthanc_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="url"):
        OrthancDicomStore("127.0.0.1:8042", "u", "p")
    with OrthancDicomStore("http://127.0.0.1:1", "u", "p") as store:
        with pytest.raises(ValueError, match="limit"):
            store.study_changes(0, limit=0)
        with pytest.raises(ValueError, match="since"):
            store.study_changes(-1)
        with pytest.raises(InvalidInput):
            store.instance_ids("1.2.*")


# -- object store contract -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 300_000, 6 * 1024 * 1024 + 7])
def test_put_get_round_trip(object_store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    object_store.put("ecg/raw/a.bin", data)
    assert sha256(object_store.get("ecg/raw/a.bin")) == sha256(data)
    assert object_store.size("ecg/raw/a.bin") == size
    assert object_store.exists("ecg/raw/a.bin")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/octet-stream",
        "application/pdf",
        "application/dicom",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ],
)
def test_every_byte_is_kept_whatever_the_content_type(object_store: ObjectStore, content_type: str) -> None:
    data = b"a=1&b=2\r\n" + os.urandom(4096)
    object_store.put("reports/r1.pdf", data, content_type)
    assert object_store.size("reports/r1.pdf") == len(data)
    assert sha256(object_store.get("reports/r1.pdf")) == sha256(data)


def test_put_overwrites(object_store: ObjectStore) -> None:
    object_store.put("k/v", b"first")
    object_store.put("k/v", b"second, longer")
    assert object_store.get("k/v") == b"second, longer"
    assert object_store.size("k/v") == len(b"second, longer")


def test_keys_may_nest_and_use_chinese(object_store: ObjectStore) -> None:
    key = "ecg/乡镇卫生院/张三 1.xml"
    object_store.put(key, "心电图".encode())
    assert object_store.get(key).decode() == "心电图"


def test_missing_object(object_store: ObjectStore) -> None:
    assert not object_store.exists("no/such/key")
    with pytest.raises(NotFound):
        object_store.get("no/such/key")
    with pytest.raises(NotFound):
        object_store.size("no/such/key")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a\\b", "a//b", "./a", "a/"])
def test_bad_keys_are_value_errors(object_store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        object_store.put(key, b"x")
    with pytest.raises(ValueError):
        object_store.get(key)
    with pytest.raises(ValueError):
        object_store.exists(key)
    with pytest.raises(ValueError):
        object_store.size(key)


def test_object_store_check_passes_when_reachable(object_store: ObjectStore) -> None:
    object_store.check()


# -- MinIO specifics -----------------------------------------------------------------------------


@pytest.mark.servers
def test_short_write_is_detected_and_removed(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a form Content-Type reached moto it would keep 0 bytes: the size check must catch that."""
    monkeypatch.setattr(minio_adapter, "_content_type", lambda value: "application/x-www-form-urlencoded")
    store = s3_server.object_store()
    with pytest.raises(StorageError, match="stored 0 bytes"):
        store.put("short.bin", b"x" * 1000)
    assert not store.exists("short.bin")


@pytest.mark.servers
def test_two_stores_share_a_new_bucket(s3_server: S3Server) -> None:
    bucket = f"sc-shared-{os.urandom(4).hex()}"
    first, second = s3_server.object_store(bucket), s3_server.object_store(bucket)
    first.put("a", b"1")
    second.put("b", b"2")
    assert (first.get("b"), second.get("a")) == (b"2", b"1")


def test_unreachable_s3_is_unavailable() -> None:
    store = MinioObjectStore(f"127.0.0.1:{free_port()}", "k", "s", "sc-test", retries=0, timeout=2)
    with pytest.raises(StorageUnavailable):
        store.put("a", b"x")
    with pytest.raises(StorageUnavailable) as caught:
        store.get("a")
    assert caught.value.__cause__ is not None
    with pytest.raises(StorageUnavailable):
        store.exists("a")
    with pytest.raises(StorageUnavailable):
        store.check()


def test_minio_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        MinioObjectStore("http://127.0.0.1:9000", "k", "s", "bucket")
    with pytest.raises(ValueError):
        MinioObjectStore("127.0.0.1:9000", "k", "s", "Not_A_Bucket")
    with pytest.raises(ValueError, match="bucket"):
        MinioObjectStore("127.0.0.1:9000", "k", "s", "ab")
