"""Real servers for the tests: Orthanc, an S3 stand-in, PostgreSQL, Redis and RabbitMQ.

Plain launchers (``OrthancServer``, ``S3Server``, ``PostgresCluster``, ``RedisServer``,
``RabbitServer``) plus session fixtures built on them (``orthanc_server``, ``s3_server``,
``postgres_url``, ``redis_url``, ``amqp_url``).  Register the fixtures once, from
``tests/conftest.py``, with ``pytest_plugins = ["tests.servers"]`` (or ``-p tests.servers`` on the
command line).  Test modules import only helpers from here, never re-declare the plugin.

Rules every launcher follows: bind 127.0.0.1 on free ports, wait on a retrying readiness probe
with a deadline (never a bare sleep), stop only what it started (by PID), and put the service log
in the error when a start fails.  PostgreSQL, Redis and RabbitMQ already running on their standard
ports are used when they answer (with a fresh database, Redis db or vhost per session); set
``SC_TEST_OWN_SERVERS=1`` to start private ones instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydicom
import pytest
from pynetdicom import AE

from sharedcenter.orthanc_config import plugins_folder, render_orthanc_config
from sharedcenter.storage.base import DicomStore, StudyChange
from sharedcenter.storage.minio import MinioObjectStore
from sharedcenter.storage.orthanc import OrthancDicomStore

__all__ = [
    "DEFAULT_MODALITIES",
    "NOTIFY_SCRIPT",
    "ManagedProcess",
    "OrthancServer",
    "PostgresCluster",
    "RabbitServer",
    "RedisServer",
    "S3Server",
    "amqp_url",
    "c_store",
    "free_port",
    "orthanc_modalities",
    "orthanc_notify_url",
    "orthanc_server",
    "own_servers_only",
    "postgres_url",
    "redis_url",
    "s3_server",
    "unique_name",
    "wait_for",
    "wait_stable",
]

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTIFY_SCRIPT = REPO_ROOT / "orthanc" / "notify.py"
#: AE titles the session Orthanc accepts C-STORE from (township DR rooms of the example region).
DEFAULT_MODALITIES: tuple[tuple[str, str], ...] = (("C01T01DR", "127.0.0.1"), ("C01T02DR", "127.0.0.1"))
LOG_TAIL_LINES = 60


# -- helpers -------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Parameters
    ----------
    predicate
        Called repeatedly; exceptions listed in ``ignore`` count as "not yet".
    timeout
        Seconds before giving up.
    what
        What is awaited, for the error message.
    interval
        Seconds between polls (doubling up to 0.5 s).
    ignore
        Exception types that mean "not ready yet".

    Raises
    ------
    TimeoutError
        ``predicate`` stayed falsy for ``timeout`` seconds; the last ignored exception is chained.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except ignore as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}") from last_exc
        time.sleep(interval)
        interval = min(interval * 2, 0.5)


def unique_name(prefix: str) -> str:
    """``prefix`` plus 12 random hex digits: a bucket, database or vhost name no other session uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def own_servers_only() -> bool:
    """Whether ``SC_TEST_OWN_SERVERS`` asks to ignore servers already running here."""
    return os.environ.get("SC_TEST_OWN_SERVERS", "") not in ("", "0", "false", "no")


def _tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _binary(name: str, *candidates: str) -> str:
    found = shutil.which(name) or next((c for c in candidates if Path(c).is_file()), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run `make install`")
    return found


class ManagedProcess:
    """One server process that we started: its log, its readiness wait and its stop, by PID.

    Parameters
    ----------
    name
        For messages.
    argv, env, cwd
        How to start it (``env`` is added to the current environment).
    log_path
        Receives the process's stdout and stderr.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        self.env, self.cwd = env or {}, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Start the process and wait until ``ready()`` is true; fail with the log otherwise."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )

        def up() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.proc and self.proc.returncode}")
            return ready()

        try:
            wait_for(up, timeout, f"{self.name} to answer")
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {exc}\n--- {self.log_path} ---\n{self.tail()}") from exc

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait for the PID to exit (SIGKILL after ``timeout``); a no-op when not running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the log."""
        return _tail(self.log_path, lines)


# -- Orthanc -------------------------------------------------------------------------------------


class OrthancServer:
    """A private Orthanc 1.10.1 with the config sharedcenter renders, in ``workdir``.

    Attributes: ``url``, ``http_port``, ``dicom_port``, ``aet``, ``user``, ``password``,
    ``storage_dir``, ``config_path``, ``log_path``, ``modalities``, ``notify_url``.  Ports and
    folders stay the same across :meth:`restart`, so the index (and its change feed) survives.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        modalities: Sequence[tuple[str, str]] = DEFAULT_MODALITIES,
        notify_url: str | None = None,
        notify_token: str | None = None,
        stable_age: int = 1,
        check_modality_host: bool = False,
        aet: str = "SCTESTPACS",
        user: str = "sharedcenter",
        password: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.modalities = list(modalities)
        self.notify_url, self.notify_token = notify_url, notify_token
        self.http_port, self.dicom_port = free_port(), free_port()
        self.aet, self.user = aet, user
        self.password = password or uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.storage_dir = self.workdir / "storage"
        self.config_path = self.workdir / "orthanc.json"
        self.log_path = self.workdir / "orthanc.log"
        self.config = render_orthanc_config(
            name="sharedcenter-test",
            http_port=self.http_port,
            dicom_port=self.dicom_port,
            dicom_aet=aet,
            storage_dir=self.storage_dir,
            users={user: self.password},
            modalities=self.modalities,
            plugins_dir=plugins_folder(self.workdir / "plugins"),
            python_script=NOTIFY_SCRIPT,
            notify_url=notify_url,
            notify_token=notify_token,
            stable_age=stable_age,
            check_modality_host=check_modality_host,
        )
        self.config_path.write_text(json.dumps(self.config, indent=2))
        argv = [_binary("Orthanc", "/usr/sbin/Orthanc"), str(self.config_path)]
        self.process = ManagedProcess("Orthanc", argv, self.log_path, cwd=self.workdir)

    def __repr__(self) -> str:
        return f"OrthancServer({self.url}, dicom={self.dicom_port}, aet={self.aet!r})"

    def _ready(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/system", auth=(self.user, self.password), timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and _tcp_answers("127.0.0.1", self.dicom_port)

    def start(self, timeout: float = 30.0) -> None:
        """Start Orthanc and wait until both its REST API and its DICOM port answer."""
        self.process.start(self._ready, timeout)

    def stop(self) -> None:
        """Stop Orthanc and wait for its PID (it takes 2-3 s) so the index can be reused."""
        self.process.stop()

    def restart(self) -> None:
        """Stop, then start on the same ports and index."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process.running

    def dicom_store(self, *, timeout: float = 30.0) -> OrthancDicomStore:
        """A sharedcenter adapter logged in to this Orthanc (close it when done)."""
        return OrthancDicomStore(self.url, self.user, self.password, timeout=timeout)

    def last_change(self) -> int:
        """Orthanc's newest change number: a feed cursor that skips everything logged so far."""
        auth = (self.user, self.password)
        response = httpx.get(f"{self.url}/changes", params={"last": ""}, auth=auth, timeout=10)
        response.raise_for_status()
        return int(response.json()["Last"])

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of Orthanc's log."""
        return self.process.tail(lines)


def wait_stable(store: DicomStore, since: int, study_uid: str, timeout: float = 30.0) -> StudyChange:
    """Poll ``store.study_changes`` from cursor ``since`` until ``study_uid`` shows up; return its change."""

    def find() -> StudyChange | None:
        cursor, done = since, False
        while not done:
            changes, cursor, done = store.study_changes(cursor, limit=100)
            for change in changes:
                if change.study_instance_uid == study_uid:
                    return change
        return None

    change = wait_for(find, timeout, f"study {study_uid} to become stable")
    assert change is not None
    return change


def c_store(server: OrthancServer, calling_aet: str, datasets: Sequence[pydicom.Dataset]) -> list[int]:
    """C-STORE ``datasets`` to ``server`` as ``calling_aet`` with pynetdicom.

    Returns
    -------
    list of int
        The DIMSE status of each C-STORE (0 is success), or ``[]`` when the association was refused.
    """
    ae = AE(ae_title=calling_aet)
    for sop_class, syntax in {(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets}:
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate("127.0.0.1", server.dicom_port, ae_title=server.aet)
    if not assoc.is_established:
        return []
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


# -- S3 stand-in (moto) --------------------------------------------------------------------------


class S3Server:
    """moto's S3 server, in memory, on a free port (it accepts any credentials).

    Attributes: ``endpoint`` (``host:port``), ``url``, ``access_key``, ``secret_key``, ``region``,
    ``log_path``.
    """

    access_key = "sharedcenter-test"
    secret_key = "sharedcenter-test-secret"
    region = "us-east-1"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.endpoint}"
        self.log_path = Path(workdir) / "moto.log"
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = ManagedProcess("moto_server", argv, self.log_path, cwd=Path(workdir))

    def __repr__(self) -> str:
        return f"S3Server({self.url})"

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 30.0) -> None:
        """Start moto and wait until it answers."""
        self.process.start(self._ready, timeout)

    def stop(self) -> None:
        """Stop moto (everything it held is gone)."""
        self.process.stop()

    def object_store(self, bucket: str | None = None, **kwargs: Any) -> MinioObjectStore:
        """A sharedcenter adapter on a new unique bucket (or ``bucket``)."""
        return MinioObjectStore(
            self.endpoint,
            self.access_key,
            self.secret_key,
            bucket or unique_name("sc-test-"),
            region=self.region,
            **kwargs,
        )

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of moto's log."""
        return self.process.tail(lines)


# -- PostgreSQL ----------------------------------------------------------------------------------


def _as_user(user: str) -> list[str]:
    """Prefix to run a command as ``user`` when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else _binary(name)


def _pg_answers(dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


class PostgresCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) in a temporary folder, trust auth, no fsync.

    Attributes: ``port``, ``host`` (127.0.0.1), ``admin_dsn`` (libpq DSN of the ``postgres`` db).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        # not under pytest's tmp dir: that one is private to root, and postgres runs as postgres
        self.root = Path(tempfile.mkdtemp(prefix="sc-test-pg-"))
        self.data_dir, self.log_path = self.root / "data", self.root / "postgres.log"
        self.admin_dsn = f"host={self.host} port={self.port} user=postgres dbname=postgres"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str) -> None:
        cmd = [*_as_user("postgres"), *argv]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}\n{_tail(self.log_path)}")

    def start(self, timeout: float = 60.0) -> None:
        """initdb (once), then ``pg_ctl start -w`` and a connection probe."""
        if not self.data_dir.exists():
            self._run(_pg_bin("initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start")
        wait_for(lambda: _pg_answers(self.admin_dsn), timeout, "PostgreSQL to accept connections")

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (waits for the postmaster), then remove the folder."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def _fresh_database(admin_dsn: str, host: str, port: int) -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    import psycopg

    name = unique_name("sc_test_")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- Redis ---------------------------------------------------------------------------------------


def _redis_answers(host: str, port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


class RedisServer:
    """A private redis-server on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            _binary("redis-server", "/usr/bin/redis-server"),
            "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", str(workdir),
        ]  # fmt: skip
        self.process = ManagedProcess("redis-server", argv, Path(workdir) / "redis.log", cwd=Path(workdir))

    def start(self, timeout: float = 30.0) -> None:
        """Start redis-server and wait for PONG."""
        self.process.start(lambda: _redis_answers("127.0.0.1", self.port), timeout)

    def stop(self) -> None:
        """Stop redis-server by its PID."""
        self.process.stop()


_REDIS_CLAIM = "sharedcenter:test-session"


@contextlib.contextmanager
def _claimed_redis_db(host: str, port: int) -> Iterator[str]:
    """Claim an empty numbered db of a shared Redis (marker key), yield its URL, flush it afterwards."""
    import redis

    session = unique_name("")
    for db in range(1, 16):
        client = redis.Redis(host=host, port=port, db=db, socket_timeout=2)
        if client.dbsize() == 0 and client.set(_REDIS_CLAIM, session, nx=True, ex=6 * 3600):
            break
        client.close()
    else:
        raise RuntimeError(f"no empty Redis db on {host}:{port} to claim for this test session")
    try:
        yield f"redis://{host}:{port}/{db}"
    finally:
        if client.get(_REDIS_CLAIM) == session.encode():
            client.flushdb()
        client.close()


# -- RabbitMQ ------------------------------------------------------------------------------------


def _amqp_answers(url: str) -> bool:
    from kombu.connection import Connection
    from kombu.exceptions import KombuError

    try:
        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1)
    except (OSError, KombuError):
        return False
    return True


def _epmd_pid(port: int) -> int | None:
    """The PID of the epmd that listens on ``port`` (found by its ERL_EPMD_PORT environment)."""
    marker = f"ERL_EPMD_PORT={port}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "epmd" and marker in (proc / "environ").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    return None


class RabbitServer:
    """A private RabbitMQ node (own node name, ports, dirs and epmd), as SERVERS.md describes."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.node = f"{unique_name('sctest')}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        (self.workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users.guest = true\n"
        )
        (self.workdir / "rabbitmq-env.conf").write_text("")
        (self.workdir / "enabled_plugins").write_text("[].\n")
        self.env = {
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
        }
        # the real script, not Debian's /usr/sbin wrapper, which switches to the rabbitmq user
        real = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
        argv = [str(real) if real.is_file() else _binary("rabbitmq-server")]
        self.process = ManagedProcess("rabbitmq-server", argv, self.workdir / "rabbitmq.log", env=self.env)

    def start(self, timeout: float = 90.0) -> None:
        """Start the node in the foreground and wait until AMQP logins work."""
        self.process.start(lambda: _amqp_answers(self.url), timeout)

    def stop(self) -> None:
        """Stop the node, then its epmd, each by PID."""
        self.process.stop(timeout=60)
        pid = _epmd_pid(self.epmd_port)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, f"epmd {pid} to exit")


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def _fresh_vhost(host: str, port: int) -> Iterator[str]:
    """A new vhost on the machine's broker (via rabbitmqctl), deleted afterwards; "/" if not allowed."""
    vhost = unique_name("sc_test_")
    made = shutil.which("rabbitmqctl") is not None and _rabbitmqctl("add_vhost", vhost).returncode == 0
    if made and _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*").returncode != 0:
        _rabbitmqctl("delete_vhost", vhost)
        made = False
    try:
        yield f"amqp://guest:guest@{host}:{port}/{quote(vhost if made else '/', safe='')}"
    finally:
        if made:
            _rabbitmqctl("delete_vhost", vhost)


# -- fixtures ------------------------------------------------------------------------------------


def _report_logs(request: pytest.FixtureRequest, name: str, tail: Callable[[], str]) -> None:
    """Print a service's log tail at teardown when the session had failures."""
    if request.session.testsfailed and sys.__stderr__ is not None:
        sys.__stderr__.write(f"\n--- {name} log (last {LOG_TAIL_LINES} lines) ---\n{tail()}\n")


@pytest.fixture(scope="session")
def orthanc_modalities() -> list[tuple[str, str]]:
    """``(ae_title, host)`` pairs the session Orthanc accepts; override to use the region's."""
    return list(DEFAULT_MODALITIES)


@pytest.fixture(scope="session")
def orthanc_notify_url() -> str | None:
    """Where the session Orthanc's doorbell POSTs stable studies; override to point at the API."""
    return None


@pytest.fixture(scope="session")
def orthanc_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    orthanc_modalities: list[tuple[str, str]],
    orthanc_notify_url: str | None,
) -> Iterator[OrthancServer]:
    """A private Orthanc for the session (StableAge 1 s); yields the :class:`OrthancServer`."""
    server = OrthancServer(
        tmp_path_factory.mktemp("orthanc"), modalities=orthanc_modalities, notify_url=orthanc_notify_url
    )
    server.start()
    try:
        yield server
    finally:
        _report_logs(request, "Orthanc", server.tail)
        server.stop()


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server for the session; yields the :class:`S3Server` (use a unique bucket per test)."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        _report_logs(request, "moto", server.tail)
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh database for the session, on 127.0.0.1:5432 or a private cluster."""
    shared = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    if not own_servers_only() and _pg_answers(shared):
        with _fresh_database(shared, "127.0.0.1", 5432) as url:
            yield url
        return
    cluster = PostgresCluster()
    cluster.start()
    try:
        with _fresh_database(cluster.admin_dsn, cluster.host, cluster.port) as url:
            yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis db of its own for the session: an empty db of 127.0.0.1:6379, or a private server."""
    if not own_servers_only() and _redis_answers("127.0.0.1", 6379):
        with _claimed_redis_db("127.0.0.1", 6379) as url:
            yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def amqp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """AMQP URL for the session: a fresh vhost on 127.0.0.1:5672 (guest), or a private RabbitMQ."""
    if not own_servers_only() and _amqp_answers("amqp://guest:guest@127.0.0.1:5672//"):
        with _fresh_vhost("127.0.0.1", 5672) as url:
            yield url
        return
    server = RabbitServer(tmp_path_factory.mktemp("rabbitmq"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
