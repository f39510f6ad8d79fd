"""Orders: the API and CLI, matching studies to orders, completion by expected instance count (upload
and C-STORE through a real Orthanc), and the concurrent-accession race on a real PostgreSQL."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sharedcenter.auth import Principal, create_user
from sharedcenter.config import Settings, load_settings
from sharedcenter.db import AuditEvent, Database, Order, Study
from sharedcenter.enums import ExamType
from sharedcenter.errors import ImproperlyConfigured
from sharedcenter.orders import OrderRequest, create_order
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload
from sharedcenter.studies.orders import match_or_create_order
from tests.conftest import PASSWORD, PEOPLE, login, serve_api
from tests.servers import OrthancServer
from tests.test_cli import sc
from tests.utils import dicom_bytes
from tests.utils.processes import poll


def _queued(services: Services) -> list[int]:
    """Study ids of the pre-read messages waiting in the embedded (filesystem) broker, read back."""
    out = []
    for path in sorted((services.settings.broker_folder / "out").glob("*.msg")):
        body = json.loads(path.read_text())
        out.append(int(json.loads(base64.b64decode(body["body"]))[0][0]))  # Celery's (args, kwargs, embed)
    return out


def _order_count(services: Services) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Order)) or 0


def _queue_reasons(services: Services, study_id: int) -> list[str]:
    with services.db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id,
                                                          AuditEvent.action == "preread.queued"))
        return [e.detail.get("reason", "") for e in events]


def _matched(services: Services, study_id: int) -> list[tuple[str, str]]:
    with services.db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id,
                                                          AuditEvent.action == "order.matched"))
        return [(e.entity_id, e.detail["by"]) for e in events]


def _local_today(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.tz).date()


ORDER = {"patient_id": "P100", "patient_name": "ZHANG^SAN", "modality": "DX", "accession_number": "ACC100",
         "patient_birth_date": "1960-05-01", "patient_sex": "M", "procedure_description": "胸部正位",
         "station_ae_title": "C01T01DR", "expected_instances": 2}


# -- API ------------------------------------------------------------------------------------------


def test_technician_orders_for_own_site_admin_for_any(api: httpx.Client, services: Services) -> None:
    tech, admin, rad = login(api, "tech"), login(api, "admin"), login(api, "rad")
    r = api.post("/api/orders", json=ORDER, headers=tech)
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["site_code"], order["status"], order["exam"], order["created_by"]) == \
        ("c01-t01", "scheduled", "cxr", "user:tech")
    assert order["expected_instances"] == 2 and order["patient_birth_date"] == "1960-05-01"
    assert api.post("/api/orders", json={**ORDER, "site": "c01-t02"}, headers=tech).status_code == 403
    assert api.post("/api/orders", json={**ORDER, "site": "c01-t02"}, headers=admin).status_code == 201
    assert api.post("/api/orders", json={**ORDER, "site": "c01-t01", "accession_number": "X"},
                    headers=rad).status_code == 403
    assert _order_count(services) == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"patient_id": ""}, "patient_id"),
    ({"modality": "XX"}, "modality"),
    ({"accession_number": "A" * 17}, "accession_number"),
    ({"patient_birth_date": "2999-01-01"}, "patient_birth_date"),
    ({"patient_sex": "Q"}, "patient_sex"),
    ({"expected_instances": 0}, "expected_instances"),
    ({"patient_name": "ZHANG\\SAN"}, "patient_name"),
    ({"scheduled_at": "tomorrow"}, "scheduled_at"),
])
def test_bad_orders_are_refused_naming_the_field(api: httpx.Client, services: Services, change: dict[str, Any],
                                                 field: str) -> None:
    r = api.post("/api/orders", json={**ORDER, **change}, headers=login(api, "tech"))
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _order_count(services) == 0


def test_accession_is_unique_within_a_site(api: httpx.Client, services: Services) -> None:
    tech, tech2 = login(api, "tech"), login(api, "tech2")
    assert api.post("/api/orders", json=ORDER, headers=tech).status_code == 201
    r = api.post("/api/orders", json=ORDER, headers=tech)
    assert r.status_code == 409 and "accession_number" in r.json()["detail"]
    assert api.post("/api/orders", json=ORDER, headers=tech2).status_code == 201  # another site numbers alike
    assert _order_count(services) == 2


def test_list_filters_and_scope(api: httpx.Client, services: Services) -> None:
    tech, tech2, admin, rad = (login(api, u) for u in ("tech", "tech2", "admin", "rad"))
    today = _local_today(services.settings)
    tomorrow = today + dt.timedelta(days=1)
    api.post("/api/orders", json={**ORDER, "scheduled_at": f"{today}T09:00"}, headers=tech)
    api.post("/api/orders", json={**ORDER, "accession_number": "ACC101", "modality": "CT",
                                  "scheduled_at": f"{tomorrow}T09:00"}, headers=tech)
    api.post("/api/orders", json={**ORDER, "scheduled_at": f"{today}T23:30"}, headers=tech2)

    def accessions(headers: dict[str, str], **params: str) -> list[tuple[str, str]]:
        r = api.get("/api/orders", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [(o["site_code"], o["accession_number"]) for o in r.json()]

    assert accessions(tech) == [("c01-t01", "ACC100"), ("c01-t01", "ACC101")]
    assert accessions(tech2) == [("c01-t02", "ACC100")]
    assert accessions(admin, date=str(today)) == [("c01-t01", "ACC100"), ("c01-t02", "ACC100")]
    assert accessions(admin, modality="ct") == [("c01-t01", "ACC101")]
    assert accessions(rad, site="c01-t02") == [("c01-t02", "ACC100")]  # the center's own township
    assert accessions(login(api, "rad_c02")) == []
    assert accessions(tech, status="cancelled") == []
    assert api.get("/api/orders", params={"status": "lost"}, headers=tech).status_code == 422
    # 23:30 local on `today` is the next day in UTC: the day filter is the region's local day
    local = api.get("/api/orders", params={"date": str(today)}, headers=tech2).json()[0]["scheduled_at"]
    assert dt.datetime.fromisoformat(local).astimezone(services.settings.tz).date() == today


def test_cancel(api: httpx.Client, services: Services) -> None:
    tech, tech2 = login(api, "tech"), login(api, "tech2")
    order = api.post("/api/orders", json=ORDER, headers=tech).json()
    assert api.post(f"/api/orders/{order['id']}/cancel", headers=tech2).status_code == 404
    r = api.post(f"/api/orders/{order['id']}/cancel", json={"reason": "patient left"}, headers=tech)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.post(f"/api/orders/{order['id']}/cancel", headers=tech).json()["status"] == "cancelled"
    started = api.post("/api/orders", json={**ORDER, "accession_number": "ACC200"}, headers=tech).json()
    api.post("/api/uploads", files={"files": ("a.dcm", dicom_bytes(AccessionNumber="ACC200"))},
             data={"complete": "false"}, headers=tech).raise_for_status()
    r = api.post(f"/api/orders/{started['id']}/cancel", headers=tech)
    assert r.status_code == 409 and "in-progress" in r.text


def test_cli_creates_lists_and_cancels(api: httpx.Client, settings: Settings) -> None:
    url = str(api.base_url)
    auth = ["--url", url, "--user", "tech", "--password", PASSWORD]
    out = sc(settings, "orders", "create", "--patient-id", "P7", "--patient-name", "李^四", "--modality", "DX",
             "--accession", "CLI1", "--scheduled-at", "2026-12-07 09:30", "--birth-date", "1970-01-02",
             "--sex", "F", "--expected-instances", "1", "--json", *auth)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["patient_name"] == "李^四" and created["expected_instances"] == 1
    out = sc(settings, "orders", "list", "--date", "2026-12-07", *auth)
    assert out.returncode == 0 and f"order {created['id']} scheduled" in out.stdout and "CLI1" in out.stdout
    out = sc(settings, "orders", "create", "--patient-id", "P7", "--patient-name", "LI", "--modality", "ZZ", *auth)
    assert out.returncode == 2 and "modality" in out.stderr
    out = sc(settings, "orders", "cancel", str(created["id"]), "--reason", "wrong patient", *auth)
    assert out.returncode == 0 and "cancelled" in out.stdout


# -- matching and completion on the upload path ---------------------------------------------------


def _order(services: Services, who: Principal, **fields: Any) -> int:
    spec = {"site_code": "c01-t01", "patient_id": "P1", "patient_name": "WANG^WU", "modality": "CT", **fields}
    with services.db.session() as session:
        return create_order(session, services.settings, who, OrderRequest(**spec)).id


def _upload(services: Services, data: bytes, complete: bool, site: str = "c01-t01") -> Study:
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, site, [UploadedFile("x.dcm", data)], complete=complete)
        return outcome.study


def _status(services: Services, order_id: int) -> str:
    with services.db.session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status


def test_study_matches_its_sites_order_by_accession(services: Services, people: dict[str, Principal]) -> None:
    ours = _order(services, people["admin"], accession_number="M1")
    theirs = _order(services, people["admin"], site_code="c01-t02", accession_number="M1")
    study = _upload(services, dicom_bytes(AccessionNumber="M1", PatientID="other-id"), complete=True)
    assert study.order_id == ours != theirs
    assert (_status(services, ours), _status(services, theirs)) == ("completed", "scheduled")
    assert _matched(services, study.id) == [(str(ours), "accession")]


def test_without_accession_patient_exam_and_local_day_match(services: Services, people: dict[str, Principal]) -> None:
    today = _local_today(services.settings)
    order_id = _order(services, people["admin"], scheduled_at=dt.datetime.combine(today, dt.time(8)))
    other_exam = _order(services, people["admin"], modality="DX", scheduled_at=dt.datetime.combine(today, dt.time(7)))
    yesterday = (today - dt.timedelta(days=1)).strftime("%Y%m%d")
    stale = _upload(services, dicom_bytes(AccessionNumber="", PatientID="P1", StudyDate=yesterday), complete=False)
    assert stale.order_id not in (order_id, other_exam)  # another day: an order is made for the study
    assert _matched(services, stale.id) == []
    study = _upload(services, dicom_bytes(AccessionNumber="", PatientID="P1", StudyDate=today.strftime("%Y%m%d")),
                    complete=False)
    assert study.order_id == order_id and _status(services, order_id) == "in-progress"
    assert _matched(services, study.id) == [(str(order_id), "patient")]
    assert _status(services, other_exam) == "scheduled"


def test_expected_count_queues_the_preread_without_a_declaration(services: Services,
                                                                  people: dict[str, Principal]) -> None:
    order_id = _order(services, people["tech"], accession_number="E1", expected_instances=2)
    uid = pydicom.uid.generate_uid()
    first = _upload(services, dicom_bytes(study_uid=uid, AccessionNumber="E1"), complete=False)
    assert _queued(services) == [] and _status(services, order_id) == "in-progress"
    second = _upload(services, dicom_bytes(study_uid=uid, AccessionNumber="E1"), complete=False)
    assert second.id == first.id and second.complete and second.instance_count == 2
    assert _queued(services) == [first.id]
    assert _queue_reasons(services, first.id) == ["expected_count"]
    assert _status(services, order_id) == "completed"
    declared = _upload(services, dicom_bytes(AccessionNumber="D1"), complete=True)
    assert _queue_reasons(services, declared.id) == ["declared"]


def test_stow_left_open_is_queued_by_the_expected_count(api: httpx.Client, services: Services) -> None:
    from sharedcenter.dicomweb import build_multipart_related

    tech = login(api, "tech")
    order = api.post("/api/orders", json={**ORDER, "modality": "CT", "accession_number": "SW1"}, headers=tech).json()
    uid = pydicom.uid.generate_uid()

    def stow(n: int) -> None:
        body, content_type = build_multipart_related([dicom_bytes(study_uid=uid, AccessionNumber="SW1")
                                                      for _ in range(n)])
        r = api.post("/dicomweb/studies", params={"complete": "false"}, content=body,
                     headers={**tech, "Content-Type": content_type})
        assert r.status_code == 200, r.text

    stow(1)
    assert _queued(services) == [] and _status(services, order["id"]) == "in-progress"
    stow(1)  # the second of the two the order expects
    [study_id] = _queued(services)
    assert _queue_reasons(services, study_id) == ["expected_count"]
    assert _status(services, order["id"]) == "completed"


def test_timezone_setting_is_checked(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path).timezone == "Asia/Shanghai"
    with pytest.raises(ImproperlyConfigured, match="TIMEZONE"):
        load_settings(data_dir=tmp_path, timezone="Mars/Olympus")


# -- C-STORE through a real Orthanc: counted complete before StableAge -----------------------------


@pytest.fixture
def orthanc_slow_stable(tmp_path: Path) -> Iterator[OrthancServer]:
    """Orthanc whose StableAge (60 s, the deployment default) is far beyond the test's deadline."""
    server = OrthancServer(tmp_path / "orthanc", modalities=[("C01T01DR", "127.0.0.1")], stable_age=60)
    server.start()
    yield server
    server.stop()


def _storescu(orthanc: OrthancServer, calling: str, files: list[Path]) -> None:
    run = subprocess.run(["storescu", "-aet", calling, "-aec", orthanc.aet, "127.0.0.1", str(orthanc.dicom_port),
                          *map(str, files)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def _study_row(services: Services, uid: str) -> Study | None:
    with services.db.session() as session:
        return session.scalar(select(Study).where(Study.study_instance_uid == uid))


@pytest.mark.servers
def test_c_stored_study_is_queued_once_its_expected_count_arrived(
    orthanc_slow_stable: OrthancServer, tmp_path: Path, people: dict[str, Principal], services: Services
) -> None:
    """dcmtk's storescu sends 2, then the 3rd of the 3 instances the order expects; the server's own
    catch-up loop (interval 30 s, count poll 0.5 s) queues the pre-read long before StableAge (60 s)."""
    orthanc = orthanc_slow_stable
    settings = load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key",
                             database_url=services.settings.database_url, dicom_store="orthanc",
                             orthanc_url=orthanc.url, orthanc_user=orthanc.user, orthanc_password=orthanc.password,
                             orthanc_sync_interval_s=30, orthanc_count_poll_s=0.5, orthanc_stable_age_s=60)
    live = Services.from_settings(settings)
    order_id = _order(live, people["tech"], modality="CT", accession_number="CS1", expected_instances=3)
    uid = pydicom.uid.generate_uid()
    files = []
    for i in range(3):
        files.append(tmp_path / f"i{i}.dcm")
        files[-1].write_bytes(dicom_bytes(study_uid=uid, AccessionNumber="CS1"))
    try:
        with serve_api(live, background=True):
            _storescu(orthanc, "C01T01DR", files[:2])
            seen = poll(lambda: (row := _study_row(live, uid)) is not None and row.instance_count == 2 and row,
                        20, "the arriving study counted at 2 instances")
            assert not seen.complete and _queued(live) == []  # 2 of 3: not yet
            _storescu(orthanc, "C01T01DR", files[2:])
            [study_id] = poll(lambda: _queued(live), 20, "the pre-read queued on the third instance")
            assert not live.dicom_store.is_stable(uid)  # StableAge has not passed: the count did it
        assert _queue_reasons(live, study_id) == ["expected_count"]
        assert _status(live, order_id) == "completed"
    finally:
        live.close()


# -- the accession race on PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def pg_services(postgres_url: str, tmp_path: Path) -> Iterator[Services]:
    from alembic import command

    db = Database(postgres_url)
    command.downgrade(db.alembic_config(), "base")
    db.upgrade()
    db.dispose()
    settings = load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key",
                             database_url=postgres_url)
    services = Services.from_settings(settings)
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        for username, (role, site, center) in PEOPLE.items():
            create_user(session, username, PASSWORD, role, site_code=site, center_code=center)
    yield services
    services.close()


@pytest.mark.servers
def test_concurrent_new_studies_with_one_accession_make_one_order(pg_services: Services) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    hold = threading.Event()

    def match(i: int) -> int:
        with pg_services.db.session() as session:
            barrier.wait(timeout=30)
            order = match_or_create_order(session, pg_services.settings, site_code="c01-t01",
                                          accession_number="RACE1", patient_id=f"P{i}", patient_name="X",
                                          exam=ExamType.CHEST_XRAY)
            hold.wait(timeout=0.5)  # keep the transactions open together so their inserts collide
            return order.id

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(match, range(threads)))
    assert len(set(ids)) == 1
    with pg_services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Order)
                              .where(Order.accession_number == "RACE1")) == 1


@pytest.mark.servers
def test_concurrent_uploads_with_one_accession_all_succeed(pg_services: Services) -> None:
    with serve_api(pg_services) as url, httpx.Client(base_url=url, timeout=60) as client:
        headers = login(client, "tech")
        bodies = [dicom_bytes(AccessionNumber="RACE2") for _ in range(6)]  # six new studies, one accession

        def send(data: bytes) -> int:
            return client.post("/api/uploads", files={"files": ("a.dcm", data)}, headers=headers).status_code

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(send, bodies))
    assert statuses == [201] * 6
    with pg_services.db.session() as session:
        orders = session.scalars(select(Order).where(Order.accession_number == "RACE2")).all()
        assert len(orders) == 1
        assert session.scalar(select(func.count()).select_from(Study).where(Study.order_id == orders[0].id)) == 6


@pytest.mark.servers
def test_concurrent_uploads_of_one_new_study_make_one_study(pg_services: Services) -> None:
    uid = pydicom.uid.generate_uid()
    with serve_api(pg_services) as url, httpx.Client(base_url=url, timeout=60) as client:
        headers = login(client, "tech")
        bodies = [dicom_bytes(study_uid=uid, AccessionNumber="RACE3") for _ in range(6)]  # six instances, one study

        def send(data: bytes) -> int:
            return client.post("/api/uploads", files={"files": ("a.dcm", data)}, data={"complete": "false"},
                               headers=headers).status_code

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(send, bodies))
    assert sorted(statuses) == [200] * 5 + [201], statuses  # one made the study, five joined it
    with pg_services.db.session() as session:
        studies = session.scalars(select(Study).where(Study.study_instance_uid == uid)).all()
        assert len(studies) == 1 and studies[0].instance_count == 6
        assert session.scalar(select(func.count()).select_from(Order)
                              .where(Order.accession_number == "RACE3")) == 1
        received = session.scalars(select(AuditEvent).where(AuditEvent.study_id == studies[0].id,
                                                            AuditEvent.action == "study.received")).all()
        assert len(received) == 1


# -- migration 0005 on existing data ------------------------------------------------------------------


def _migrate_with_data(url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(url)
    command.downgrade(db.alembic_config(), "base")
    command.upgrade(db.alembic_config(), "0004")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO centers (code, name, kind, active) VALUES ('c', 'C', 'imaging', true)"))
        for code in ("s1", "s2"):
            conn.execute(text("INSERT INTO sites (code, name, county_code, ae_title, imaging_center_code, "
                              "ecg_center_code, active) VALUES (:c, :c, 'x', :c, 'c', 'c', true)"), {"c": code})
        for accession in ("A1", "A2"):  # ids 1 and 2 (fresh tables)
            conn.execute(text("INSERT INTO orders (accession_number, patient_id, patient_name, site_code, exam, "
                              "clinical_question, priority, requested_at, due_at) VALUES (:a, 'P', 'N', 's1', "
                              "'cxr', '', 'routine', '2026-01-01 00:00:00+00', '2026-01-02 00:00:00+00')"),
                         {"a": accession})
        conn.execute(text("INSERT INTO studies (kind, state, site_code, center_code, order_id, patient_id, "
                          "patient_name, modality, description, instance_count, complete, critical, priority, "
                          "priority_rank, due_at, received_at, updated_at, source) VALUES ('dicom', 'received', "
                          "'s1', 'c', 1, 'P', 'N', 'DX', '', 1, true, false, 'routine', 2, "
                          "'2026-01-02 00:00:00+00', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'upload')"))
    db.upgrade()
    command.downgrade(db.alembic_config(), "0004")  # and back, with the data in place
    db.upgrade()
    with db.sessionmaker() as session:
        assert [(o.id, o.status) for o in session.scalars(select(Order).order_by(Order.id))] == \
            [(1, "completed"), (2, "scheduled")]  # an order that has its study is done
        session.add(Order(accession_number="A1", patient_id="Q", site_code="s2", exam="cxr", priority="routine",
                          due_at=dt.datetime.now(dt.UTC)))
        session.commit()  # the same number at another site is allowed now
        session.add(Order(accession_number="A1", patient_id="Q", site_code="s1", exam="cxr", priority="routine",
                          due_at=dt.datetime.now(dt.UTC)))
        with pytest.raises(IntegrityError):
            session.commit()  # but not twice at one site
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Study).where(Study.order_id == 1)) == 1
        if db.engine.dialect.name == "sqlite":  # the migration switched foreign keys off; they are back on
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    command.downgrade(db.alembic_config(), "0004")  # shared numbers: the oldest order keeps its number
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, site_code, accession_number FROM orders ORDER BY id")).all() == \
            [(1, "s1", "A1"), (2, "s1", "A2"), (3, "s2", None)]
    db.upgrade()
    db.dispose()


def test_migration_0005_on_sqlite(tmp_path: Path) -> None:
    _migrate_with_data(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.servers
def test_migration_0005_on_postgresql(postgres_url: str) -> None:
    _migrate_with_data(postgres_url)
