"""DICOMweb through sharedcenter on a real server: STOW-RS, QIDO-RS and WADO-RS, scoped like the API."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from sharedcenter.api.routes import dicomweb as dicomweb_routes
from sharedcenter.auth import Principal
from sharedcenter.db import AuditEvent, Order, Study
from sharedcenter.dicomweb import build_multipart_related, parse_multipart_related
from sharedcenter.errors import InvalidInput, StorageUnavailable, UnsupportedFormat
from sharedcenter.services import Services
from sharedcenter.storage import InstanceUids, StoredInstance
from tests.conftest import login, serve_api
from tests.utils import dicom_bytes

STUDY_UID = "0020000D"


def _stow(api: httpx.Client, who: str, items: list[bytes], **params: str) -> httpx.Response:
    body, content_type = build_multipart_related(items)
    return api.post("/dicomweb/studies", headers={**login(api, who), "Content-Type": content_type},
                    content=body, params=params)


def _qido(api: httpx.Client, who: str, **params: str) -> list[str]:
    response = api.get("/dicomweb/studies", headers=login(api, who), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    return [item[STUDY_UID]["Value"][0] for item in response.json()]


def _parts(response: httpx.Response) -> list[bytes]:
    assert response.status_code == 200, response.text
    return [p.data for p in parse_multipart_related(response.content, response.headers["content-type"],
                                                    part_type="application/dicom")]


@pytest.fixture
def stowed(api: httpx.Client) -> tuple[str, list[bytes]]:
    uid = generate_uid()
    items = [dicom_bytes(study_uid=uid, PatientID="P-DW-1", StudyDate="20240305") for _ in range(2)]
    response = _stow(api, "tech", items)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    assert body["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{uid}")
    refs = body["00081199"]["Value"]
    assert len(refs) == 2 and all({"00081150", "00081155", "00081190"} <= set(ref) for ref in refs)
    return uid, items


def test_stow_lands_on_the_worklist(api: httpx.Client, stowed: tuple[str, list[bytes]]) -> None:
    uid, _ = stowed
    [study] = [s for s in api.get("/api/worklist", headers=login(api, "rad")).json()]
    assert study["instance_count"] == 2 and study["site_code"] == "c01-t01"
    assert study["state"] == "received"  # declared complete: the pre-read is queued


def test_qido_is_scoped(api: httpx.Client, stowed: tuple[str, list[bytes]]) -> None:
    uid, _ = stowed
    assert _qido(api, "rad") == [uid]
    assert _qido(api, "tech") == [uid]
    assert _qido(api, "qc", PatientID="P-DW-1") == [uid]
    assert _qido(api, "tech2") == []  # another site of the same center
    assert _qido(api, "rad_c02") == []  # another center
    assert _qido(api, "rad", PatientID="nobody") == []
    assert _qido(api, "rad", ModalitiesInStudy="CT", StudyInstanceUID=uid) == [uid]
    assert _qido(api, "rad", ModalitiesInStudy="MR") == []
    assert _qido(api, "rad", StudyDate="20240301-20240310") == [uid]
    assert _qido(api, "rad", StudyDate="20240306-") == []
    assert api.get("/dicomweb/studies", headers=login(api, "rad"), params={"StudyDate": "March"}).status_code == 422


def test_series_instances_and_metadata(api: httpx.Client, stowed: tuple[str, list[bytes]]) -> None:
    uid, _ = stowed
    rad = login(api, "rad")
    series = api.get(f"/dicomweb/studies/{uid}/series", headers=rad).json()
    assert len(series) == 2 and all(s["00201209"]["Value"] == [1] for s in series)  # dicom_bytes: new series each
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = api.get(f"/dicomweb/studies/{uid}/series/{series_uid}/instances", headers=rad).json()
    assert len(instances) == 1 and instances[0]["00080016"]["Value"]
    metadata = api.get(f"/dicomweb/studies/{uid}/metadata", headers=rad)
    assert metadata.headers["content-type"].startswith("application/dicom+json")
    assert {m[STUDY_UID]["Value"][0] for m in metadata.json()} == {uid}
    assert all("7FE00010" not in m for m in metadata.json())


def test_wado_returns_identical_bytes(api: httpx.Client, stowed: tuple[str, list[bytes]]) -> None:
    uid, items = stowed
    rad = login(api, "rad")
    assert sorted(_parts(api.get(f"/dicomweb/studies/{uid}", headers=rad))) == sorted(items)
    ref = api.get(f"/dicomweb/studies/{uid}/series", headers=rad).json()[0]
    series_uid = ref["0020000E"]["Value"][0]
    [inst] = api.get(f"/dicomweb/studies/{uid}/series/{series_uid}/instances", headers=rad).json()
    sop = inst["00080018"]["Value"][0]
    [one] = _parts(api.get(f"/dicomweb/studies/{uid}/series/{series_uid}/instances/{sop}", headers=rad))
    assert one in items
    assert len(_parts(api.get(f"/dicomweb/studies/{uid}/series/{series_uid}", headers=rad))) == 1
    for who in ("tech2", "rad_c02"):
        assert api.get(f"/dicomweb/studies/{uid}", headers=login(api, who)).status_code == 404
        assert api.get(f"/dicomweb/studies/{uid}/metadata", headers=login(api, who)).status_code == 404
    assert api.get(f"/dicomweb/studies/{generate_uid()}", headers=rad).status_code == 404
    assert api.get(f"/dicomweb/studies/{uid}/series/{generate_uid()}", headers=rad).status_code == 404


def test_restow_is_harmless(api: httpx.Client, services: Services, stowed: tuple[str, list[bytes]]) -> None:
    uid, items = stowed
    again = _stow(api, "tech", items)
    assert again.status_code == 200 and len(again.json()["00081199"]["Value"]) == 2
    with services.db.session() as session:
        [study] = session.scalars(select(Study)).all()
        assert (study.study_instance_uid, study.instance_count) == (uid, 2)
    assert _stow(api, "tech_c02", items).status_code == 409  # another site may not add to it


def test_bad_part_stores_nothing(api: httpx.Client, services: Services) -> None:
    response = _stow(api, "tech", [dicom_bytes(), b"\xff\xd8\xff\xe0 not an exam"])
    assert response.status_code == 422
    assert response.json()["error"] == "UnsupportedFormat" and "part 2" in response.json()["detail"]
    with services.db.session() as session:
        assert session.scalars(select(Study)).all() == []
    assert not any(services.settings.dicom_folder.rglob("*.dcm"))  # type: ignore[union-attr]


def test_stow_scope_and_media_types(api: httpx.Client) -> None:
    assert _stow(api, "tech", [dicom_bytes()], site="c01-t02").status_code == 403
    assert _stow(api, "rad", [dicom_bytes()]).status_code == 422  # a center has no site of its own
    assert _stow(api, "admin", [dicom_bytes()], site="c01-t02", complete="false").status_code == 200
    plain = api.post("/dicomweb/studies", headers={**login(api, "tech"), "Content-Type": "application/dicom"},
                     content=dicom_bytes())
    assert plain.status_code == 422


def test_multipart_round_trip_and_errors() -> None:
    body, content_type = build_multipart_related([b"one", b"two\r\n--x"], boundary="b0undary")
    assert [p.data for p in parse_multipart_related(body, content_type, part_type="application/dicom")] == [
        b"one", b"two\r\n--x"]
    with pytest.raises(UnsupportedFormat):
        parse_multipart_related(body, "application/dicom")
    with pytest.raises(InvalidInput, match="closing"):
        parse_multipart_related(body[:-20], content_type)
    with pytest.raises(UnsupportedFormat, match="part 1"):
        parse_multipart_related(body, content_type, part_type="application/octet-stream")


def test_chunked_stow_and_body_limit(services: Services, people: dict[str, Principal]) -> None:
    """A body without Content-Length (chunked) is read whole; one over the limit is refused while it is read
    (declared or not) and nothing is stored."""
    uid = generate_uid()
    items = [dicom_bytes(study_uid=uid) for _ in range(2)]
    body, content_type = build_multipart_related(items)
    services.settings.max_upload_bytes = len(body) + 10
    with serve_api(services) as url, httpx.Client(base_url=url, timeout=60) as client:
        headers = {**login(client, "tech"), "Content-Type": content_type}
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        ok = client.post("/dicomweb/studies", headers=headers, content=iter(chunks))
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["00081199"]["Value"]) == 2
        services.settings.max_upload_bytes = len(body) - 10
        big, big_type = build_multipart_related([dicom_bytes(study_uid=generate_uid()) for _ in range(2)])
        for content in (big, iter([big[i:i + 1000] for i in range(0, len(big), 1000)])):
            refused = client.post("/dicomweb/studies", headers={**headers, "Content-Type": big_type}, content=content)
            assert refused.status_code == 413 and "limit" in refused.json()["detail"]
    with services.db.session() as session:
        assert [s.study_instance_uid for s in session.scalars(select(Study))] == [uid]


def test_declared_body_longer_than_the_preallocation_is_read_whole(
    services: Services, people: dict[str, Principal], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server allocates at most ``_PREALLOCATE_BYTES`` of a declared Content-Length up front; the rest of a
    longer body is appended as it arrives, byte for byte."""
    monkeypatch.setattr(dicomweb_routes, "_PREALLOCATE_BYTES", 1000)
    uid = generate_uid()
    items = [dicom_bytes(study_uid=uid) for _ in range(2)]
    body, content_type = build_multipart_related(items)
    assert len(body) > 3000
    with serve_api(services) as url, httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/dicomweb/studies", headers={**login(client, "tech"), "Content-Type": content_type},
                             content=body)
        assert answer.status_code == 200, answer.text
    store = services.dicom_store
    assert sorted(store.fetch(i) for i in store.instance_ids(uid)) == sorted(items)


def test_store_failure_after_the_rows_are_written_keeps_no_rows(
    api: httpx.Client, services: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The study's order, study and audit rows are written while the DICOM store works; when one instance then
    fails to store, the request answers 503 and none of those rows stay (the stored one may: re-sending is
    harmless)."""
    items = [dicom_bytes(study_uid=generate_uid()) for _ in range(3)]
    store = services.dicom_store.store

    def flaky(data: bytes, uids: InstanceUids | None = None) -> StoredInstance:
        if data == items[1]:
            raise StorageUnavailable("the DICOM store went away")
        return store(data, uids)

    monkeypatch.setattr(services.dicom_store, "store", flaky)
    response = _stow(api, "tech", items)
    assert response.status_code == 503, response.text
    with services.db.session() as session:
        assert session.scalars(select(Study)).all() == []
        assert session.scalars(select(Order)).all() == []
        assert [e.action for e in session.scalars(select(AuditEvent)) if e.entity in ("study", "order")] == []
    monkeypatch.undo()
    assert _stow(api, "tech", items).status_code == 200  # the sender's retry stores the study
