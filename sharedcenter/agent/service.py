"""The agent as a whole: spool (locked, recovered), storage SCP, folder watch and forwarder, run
until a signal or ``stop`` asks it to end; and the status summary of a spool."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

from sharedcenter.agent.forward import Forwarder, ForwardPolicy
from sharedcenter.agent.scp import start_scp
from sharedcenter.agent.spool import Spool, is_locked
from sharedcenter.agent.watch import FolderWatch

__all__ = ["AgentConfig", "run_agent", "spool_status"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class AgentConfig:
    """What ``sharedcenter agent run`` is told (options or ``SHAREDCENTER_AGENT_*``)."""

    spool: Path
    county_url: str
    token: str
    site: str | None = None
    listen_port: int | None = None
    listen_host: str = "0.0.0.0"
    ae_title: str = "SCAGENT"
    allowed_aets: tuple[str, ...] = ()
    watch: Path | None = None
    watch_stable_s: float = 2.0
    policy: ForwardPolicy = dataclasses.field(default_factory=ForwardPolicy)

    def __post_init__(self) -> None:
        if not self.county_url.startswith(("http://", "https://")):
            raise ValueError(f"county URL must start with http:// or https://, got {self.county_url!r}")
        if not self.token:
            raise ValueError("a site token is required (--token or SHAREDCENTER_AGENT_TOKEN)")
        if self.listen_port is None and self.watch is None:
            raise ValueError("nothing to receive: give --listen PORT, --watch DIR or both")


def run_agent(config: AgentConfig, stop: threading.Event) -> None:
    """Run the agent until ``stop`` is set.

    Raises
    ------
    SpoolLocked
        Another agent runs on the same spool.
    """
    spool = Spool(config.spool)
    try:
        spool.lock()
        spool.recover()
        _serve(config, spool, stop)
    finally:
        spool.close()


def _serve(config: AgentConfig, spool: Spool, stop: threading.Event) -> None:
    forwarder = Forwarder(spool, config.county_url, config.token, site=config.site, policy=config.policy)
    threads = [threading.Thread(target=forwarder.run, args=(stop,), name="forwarder", daemon=True)]
    if config.watch is not None:
        watch = FolderWatch(spool, config.watch, stable_s=config.watch_stable_s)
        threads.append(threading.Thread(target=watch.run, args=(stop,), name="watch", daemon=True))
    server = None
    if config.listen_port is not None:
        server = start_scp(spool, port=config.listen_port, ae_title=config.ae_title, host=config.listen_host,
                           allowed_aets=config.allowed_aets)
    for thread in threads:
        thread.start()
    log.info("agent running on spool %s, forwarding to %s", config.spool, config.county_url)
    try:
        stop.wait()
    finally:
        if server is not None:
            server.shutdown()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        forwarder.close()


def spool_status(root: Path, now: float | None = None) -> dict[str, Any]:
    """Counts of a spool's journal: queued, sent, failed, rejected; the oldest queued instance's age;
    the last error; whether an agent holds the spool now."""
    if not (root / "journal.sqlite").exists():
        raise ValueError(f"{root} is not an agent spool (no journal.sqlite)")
    now = time.time() if now is None else now
    spool = Spool(root)
    try:
        counts = spool.journal.counts()
        rejected = spool.rejected_count()
    finally:
        spool.close()
    return {
        "spool": str(root), "running": is_locked(root),
        "queued": counts.queued, "sent": counts.sent, "failed": counts.failed, "rejected": rejected,
        "oldest_queued_age_s": round(now - counts.oldest_queued_at, 1) if counts.oldest_queued_at else None,
        "last_error": counts.last_error,
        "last_error_age_s": round(now - counts.last_error_at, 1) if counts.last_error_at else None,
        "last_sent_age_s": round(now - counts.last_sent_at, 1) if counts.last_sent_at else None,
    }
