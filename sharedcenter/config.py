"""One typed settings object for the whole deployment.

Every value comes from the environment (prefix ``SHAREDCENTER_``) or an embedded default that needs
no server: SQLite, a folder as DICOM store, a folder as object store and a filesystem Celery broker,
all under :attr:`Settings.data_dir`.  Build it with :func:`get_settings` (cached) or pass one in;
nothing here runs at import time.
"""

from __future__ import annotations

import functools
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sharedcenter.errors import ImproperlyConfigured

__all__ = ["DEV_SECRET", "Settings", "get_settings", "load_settings"]

#: The placeholder secret of development set-ups; refused when ``env`` is ``prod``.
DEV_SECRET = "dev-insecure-change-me"

_PACKAGE_DATA = Path(__file__).resolve().parent / "data"


class Settings(BaseSettings):
    """Settings of one sharedcenter deployment (API, worker and CLI read the same object)."""

    model_config = SettingsConfigDict(env_prefix="SHAREDCENTER_", extra="forbid", validate_default=True)

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Field(default=Path("var"), description="root of every embedded store")
    secret_key: str = DEV_SECRET
    public_url: str = "http://127.0.0.1:8000"

    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in data_dir")
    database_echo: bool = False

    dicom_store: Literal["folder", "orthanc"] = "folder"
    dicom_folder: Path | None = None
    orthanc_url: str = "http://127.0.0.1:8042"
    orthanc_user: str = "sharedcenter"
    orthanc_password: str = DEV_SECRET
    orthanc_timeout_s: float = Field(default=30.0, gt=0)
    orthanc_sync_interval_s: float = Field(default=5.0, gt=0)
    #: Orthanc's StableAge: quiet seconds after which a C-STORE'd study counts as complete
    orthanc_stable_age_s: int = Field(default=60, gt=0)
    #: how often the store is read while an open order waits for its expected instance count (the
    #: doorbell rings only on stable studies, so counting needs the feed read this often)
    orthanc_count_poll_s: float = Field(default=1.0, gt=0)

    object_store: Literal["folder", "minio"] = "folder"
    object_folder: Path | None = None
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "sharedcenter"
    s3_secret_key: str = DEV_SECRET
    s3_bucket: str = "sharedcenter"
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    broker_url: str = Field(default="", description="Celery broker; default filesystem:// in data_dir")
    worker_concurrency: int = Field(default=1, ge=1)
    task_default_retries: int = Field(default=5, ge=0)

    region_file: Path = _PACKAGE_DATA / "region_example.toml"
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    token_ttl_hours: float = Field(default=12.0, gt=0)

    #: the regional CA's folder (its key and the specialists' keys, encrypted, mode 0600)
    ca_dir: Path | None = None
    ca_name: str = "示范市区域医疗电子认证中心"
    #: issue a specialist's certificate from the regional CA on first signing when they have none
    signing_auto_enroll: bool = True
    #: recognition rules per exam type (TOML); the reference periods in it are the region's choice
    recognition_rules_file: Path = _PACKAGE_DATA / "recognition_rules.toml"
    #: the recognition mark printed on recognized reports (互认标识), e.g. "HR" or a regional prefix
    recognition_mark: str = Field(default="HR", min_length=1, max_length=32)
    #: share of signed reports sampled for QC peer review
    qc_sample_rate: float = Field(default=0.05, ge=0, le=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=50, ge=1)
    #: first retry delay of a webhook delivery; each further attempt waits twice as long (at most 1 h)
    webhook_backoff_s: float = Field(default=10.0, gt=0)

    #: chest radiograph model weights: a ChestX-ray14 DenseNet-121 checkpoint (torchvision names) or the
    #: project's format; empty means the shipped default ``models/weights/cxr_small.pt``
    cxr_model_path: Path | None = None

    #: weights of the 12-lead ECG 1-D CNN (same architecture); unset: the weights shipped in models/weights
    ecg_model_path: Path | None = None
    #: run the ECG model in the pre-read (off: criteria statements only)
    ecg_model_enabled: bool = True

    #: the region's local time (IANA name): an order and a study match on the same local day
    timezone: str = "Asia/Shanghai"

    routine_window_hours: float = Field(default=24.0, gt=0)
    urgent_window_minutes: float = Field(default=60.0, gt=0)
    stat_window_minutes: float = Field(default=15.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Asia/Shanghai)") from exc
        return value

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'sharedcenter.db'}"
        if self.dicom_folder is None:
            self.dicom_folder = self.data_dir / "dicom"
        if self.object_folder is None:
            self.object_folder = self.data_dir / "objects"
        if self.ca_dir is None:
            self.ca_dir = self.data_dir / "ca"
        if not self.broker_url:
            self.broker_url = "filesystem://localhost//"
        if self.env == "prod":
            weak = [
                name
                for name in ("secret_key", "orthanc_password", "s3_secret_key")
                if getattr(self, name) == DEV_SECRET
            ]
            if weak:
                raise ValueError(f"env=prod refuses the development placeholder for: {', '.join(weak)}")
        if not self.recognition_rules_file.is_file():
            raise ValueError(f"recognition_rules_file {self.recognition_rules_file} does not exist")
        if not self.region_file.is_file():
            raise ValueError(f"region_file {self.region_file} does not exist")
        return self

    @property
    def broker_folder(self) -> Path:
        """Folder of the embedded ``filesystem://`` broker."""
        return self.data_dir / "broker"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The region's local time zone (``timezone``)."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``, with one clear error if invalid.

    Raises
    ------
    ImproperlyConfigured
        Naming every invalid setting and why.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"SHAREDCENTER_{'_'.join(str(p) for p in err['loc']).upper() or '(settings)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ImproperlyConfigured(f"invalid settings: {problems}") from exc


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
