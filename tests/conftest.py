"""Shared fixtures: settings in a temporary folder, wired services, the example region, people."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from sharedcenter.api import create_app
from sharedcenter.auth import Principal, create_user
from sharedcenter.config import Settings, load_settings
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services

pytest_plugins = ["tests.servers"]

PASSWORD = "correct-horse-42"

#: username -> (role, site, center)
PEOPLE = {
    "tech": ("technician", "c01-t01", None),
    "tech2": ("technician", "c01-t02", None),
    "tech_c02": ("technician", "c02-t01", None),
    "rad": ("radiologist", None, "c01-img"),
    "rad_c02": ("radiologist", None, "c02-img"),
    "card": ("cardiologist", None, "c01-ecg"),
    "qc": ("qc", None, "city"),
    "admin": ("admin", None, "city"),
}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SHAREDCENTER_* variable of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("SHAREDCENTER_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = Services.from_settings(settings)
    services.db.upgrade()
    yield services
    services.close()


@pytest.fixture
def region(services: Services) -> None:
    with services.db.session() as session:
        load_region(session, read_region(services.settings.region_file))


@pytest.fixture
def people(services: Services, region: None) -> dict[str, Principal]:
    out = {}
    with services.db.session() as session:
        for username, (role, site, center) in PEOPLE.items():
            user = create_user(session, username, PASSWORD, role, site_code=site, center_code=center,
                               display_name=f"{username} 医生")
            out[username] = Principal.of(user)
    return out


@contextlib.contextmanager
def serve_api(services: Services, *, background: bool = False, port: int = 0) -> Iterator[str]:
    """The real API on a loopback port (a free one by default), served by uvicorn in a thread."""
    server = uvicorn.Server(uvicorn.Config(create_app(services, background=background), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "API server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def api(services: Services, people: dict[str, Principal]) -> Iterator[httpx.Client]:
    with serve_api(services) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def login(client: httpx.Client, username: str) -> dict[str, str]:
    """Authorization headers for ``username`` (logged in through the API)."""
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Answers with the next status of the server's script (500 first, then 200) and keeps the requests."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append((dict(self.headers), body))
        self.send_response(server.statuses.pop(0) if server.statuses else 200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received, server.statuses = [], [500, 200]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()
    thread.join(timeout=5)
