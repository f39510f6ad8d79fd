"""Running sharedcenter's own processes (a Celery worker) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sharedcenter.config import Settings

__all__ = ["poll", "settings_env", "worker_process"]

_KEYS = ("env", "data_dir", "secret_key", "database_url", "dicom_store", "orthanc_url", "orthanc_user",
         "orthanc_password", "object_store", "s3_endpoint", "s3_access_key", "s3_secret_key", "s3_bucket",
         "broker_url", "webhook_backoff_s")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes another process build the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCENTER_")}
    env.update({f"SHAREDCENTER_{key.upper()}": str(getattr(settings, key)) for key in _KEYS})
    if settings.cxr_model_path is not None:
        env["SHAREDCENTER_CXR_MODEL_PATH"] = str(settings.cxr_model_path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def worker_process(settings: Settings, log: Path, queues: str = "cpu,gpu") -> Iterator[subprocess.Popen[bytes]]:
    """A real ``sharedcenter worker`` process; its log is printed when the test fails or it dies."""
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "sharedcenter", "worker", "--pool", "solo",
                                 "--queues", queues], stdout=fh, stderr=subprocess.STDOUT,
                                env=settings_env(settings))
    try:
        yield proc
    except BaseException:
        sys.stderr.write(f"--- worker log {log} ---\n{log.read_text(errors='replace')[-6000:]}\n")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Call ``predicate`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value {value!r}")
        time.sleep(interval)
