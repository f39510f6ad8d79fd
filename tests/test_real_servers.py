"""The whole pipeline on real servers: Orthanc (DICOM store, C-STORE, change feed), the S3 stand-in
(object store, MinIO SDK), PostgreSQL, and Redis or RabbitMQ as the broker of a real worker process."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from sharedcenter.api import notify_token
from sharedcenter.auth import create_user
from sharedcenter.config import Settings, load_settings
from sharedcenter.db import Database
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services
from tests.conftest import PASSWORD, PEOPLE, login, serve_api
from tests.servers import OrthancServer, S3Server, free_port, unique_name
from tests.test_end_to_end import run_path
from tests.utils import dicom_bytes
from tests.utils.processes import poll, worker_process

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SECRET = "test-secret-key-for-real-servers"


@pytest.fixture(scope="module")
def api_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, api_port: int) -> Iterator[OrthancServer]:
    """Orthanc whose doorbell rings this module's API, accepting the example region's first two DR rooms."""
    settings = load_settings(secret_key=SECRET, data_dir=tmp_path_factory.mktemp("unused"))
    server = OrthancServer(
        tmp_path_factory.mktemp("orthanc"), modalities=[("C01T01DR", "127.0.0.1"), ("C01T02DR", "127.0.0.1")],
        notify_url=f"http://127.0.0.1:{api_port}/api/internal/dicom-store/changed",
        notify_token=notify_token(settings), stable_age=1,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _fresh_schema(url: str) -> None:
    db = Database(url)
    from alembic import command

    command.downgrade(db.alembic_config(), "base")
    db.upgrade()
    db.dispose()


@pytest.fixture(params=["redis", "amqp"])
def real_settings(request: pytest.FixtureRequest, tmp_path: Path, orthanc: OrthancServer, s3_server: S3Server,
                  postgres_url: str) -> Settings:
    broker = request.getfixturevalue(f"{request.param}_url")
    _fresh_schema(postgres_url)
    return load_settings(
        env="test", data_dir=tmp_path / "var", secret_key=SECRET, database_url=postgres_url,
        dicom_store="orthanc", orthanc_url=orthanc.url, orthanc_user=orthanc.user,
        orthanc_password=orthanc.password, object_store="minio", s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
        s3_bucket=unique_name("sc").lower(), broker_url=broker, orthanc_sync_interval_s=30,
    )


@pytest.fixture
def real_services(real_settings: Settings) -> Iterator[Services]:
    services = Services.from_settings(real_settings)
    with services.db.session() as session:
        load_region(session, read_region(real_settings.region_file))
        for username, (role, site, center) in PEOPLE.items():
            create_user(session, username, PASSWORD, role, site_code=site, center_code=center,
                        display_name=f"{username} 医生")
    yield services
    services.close()


def test_upload_preread_sign_on_real_servers(real_services: Services, tmp_path: Path) -> None:
    assert real_services.dicom_store.name == "orthanc" and real_services.object_store.name == "minio"
    with worker_process(real_services.settings, tmp_path / "worker.log"), serve_api(real_services) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        run_path(client, tmp_path)
    # what the path stored is really in the servers: the CT in Orthanc, the ECG originals in S3
    with real_services.db.session() as session:
        from sharedcenter.db import Study

        studies = session.query(Study).order_by(Study.id).all()
        assert len(real_services.dicom_store.instance_ids(str(studies[0].study_instance_uid))) == 1
        assert real_services.object_store.exists(f"ecg/records/{studies[1].ecg_record_key}.json")


def _c_store(data: bytes, calling: str, orthanc: OrthancServer) -> int:
    ds = pydicom.dcmread(io.BytesIO(data))
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", orthanc.dicom_port, ae_title=orthanc.aet)
    assert assoc.is_established, f"{calling} could not associate with Orthanc"
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    return int(status.Status)


def _worklist_uids(client: httpx.Client, who: str) -> dict[str, dict]:
    return {s["study_instance_uid"]: s for s in client.get("/api/worklist", headers=login(client, who)).json()}


@pytest.mark.parametrize("real_settings", ["redis"], indirect=True)
def test_c_store_reaches_the_worklist_and_downtime_is_caught_up(
    real_services: Services, orthanc: OrthancServer, api_port: int, tmp_path: Path
) -> None:
    first, second = dicom_bytes("CT_small.dcm"), dicom_bytes("MR_small.dcm")
    uid1, uid2 = (str(pydicom.dcmread(io.BytesIO(d)).StudyInstanceUID) for d in (first, second))
    with worker_process(real_services.settings, tmp_path / "worker.log"):
        with serve_api(real_services, background=True, port=api_port) as url, \
                httpx.Client(base_url=url, timeout=60) as client:
            assert _c_store(first, "C01T01DR", orthanc) == 0
            study = poll(lambda: _worklist_uids(client, "rad").get(uid1), 60, "the C-STORE'd study on the worklist")
            assert (study["site_code"], study["center_code"]) == ("c01-t01", "c01-img")
            poll(lambda: _worklist_uids(client, "rad")[uid1]["state"] == "preread", 60, "its pre-read")
        # sharedcenter is down; the modality keeps sending and Orthanc keeps the change feed
        assert _c_store(second, "C01T02DR", orthanc) == 0
        store = orthanc.dicom_store()
        poll(lambda: uid2 in {c.study_instance_uid for c in store.study_changes(0, 1000)[0]}, 30,
             "Orthanc to call the second study stable")
        with serve_api(real_services, background=True, port=api_port) as url, \
                httpx.Client(base_url=url, timeout=60) as client:
            study = poll(lambda: _worklist_uids(client, "rad").get(uid2), 60, "the study sent while down")
            assert study["site_code"] == "c01-t02" and study["modality"] == "MR"
            assert len(_worklist_uids(client, "rad")) == 2  # nothing twice


def test_unknown_people_cannot_ring_the_doorbell(real_services: Services) -> None:
    with serve_api(real_services) as url:
        r = httpx.post(f"{url}/api/internal/dicom-store/changed", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401




def test_study_arriving_when_orthanc_stops_is_not_lost(tmp_path: Path) -> None:
    """Orthanc 1.10.1 logs no StableStudy for a study still inside StableAge when it stops; the study's
    arrival (NewStudy) puts it on the worklist and the settle sweep queues it once Orthanc calls it stable."""
    orthanc = OrthancServer(tmp_path / "orthanc", modalities=[("C01T01DR", "127.0.0.1")], stable_age=30)
    orthanc.start()
    settings = load_settings(env="test", data_dir=tmp_path / "var", secret_key=SECRET, dicom_store="orthanc",
                             orthanc_url=orthanc.url, orthanc_user=orthanc.user, orthanc_password=orthanc.password,
                             orthanc_sync_interval_s=0.5, orthanc_stable_age_s=1)
    services = Services.from_settings(settings)
    services.db.upgrade()
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        create_user(session, "rad", PASSWORD, "radiologist", center_code="c01-img")
    data = dicom_bytes("CT_small.dcm")
    uid = str(pydicom.dcmread(io.BytesIO(data)).StudyInstanceUID)
    try:
        with worker_process(settings, tmp_path / "worker.log"), serve_api(services, background=True) as url, \
                httpx.Client(base_url=url, timeout=60) as client:
            assert _c_store(data, "C01T01DR", orthanc) == 0
            arrived = poll(lambda: _worklist_uids(client, "rad").get(uid), 30, "the arriving study on the worklist")
            assert arrived["complete"] is False and arrived["state"] == "received"
            orthanc.restart()  # inside StableAge: Orthanc will never log StableStudy for it
            done = poll(lambda: _worklist_uids(client, "rad")[uid]["state"] == "preread", 90, "its pre-read")
            assert done
    finally:
        orthanc.stop()
        services.close()
