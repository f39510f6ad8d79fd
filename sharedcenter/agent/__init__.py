"""The township agent: receives DICOM from the local modality (C-STORE) or a watched folder, keeps it
in a durable on-disk spool, and forwards it to the county by STOW-RS, retrying with backoff while the
link is down and deleting nothing before the county has acknowledged it."""

from __future__ import annotations

from sharedcenter.agent.forward import Forwarder, ForwardPolicy, LinkDown
from sharedcenter.agent.journal import Journal, JournalCounts, QueuedInstance
from sharedcenter.agent.scp import start_scp
from sharedcenter.agent.service import AgentConfig, run_agent, spool_status
from sharedcenter.agent.spool import Accepted, Spool, SpoolLocked, is_locked, read_uids
from sharedcenter.agent.watch import FolderWatch

__all__ = [
    "Accepted",
    "AgentConfig",
    "FolderWatch",
    "ForwardPolicy",
    "Forwarder",
    "Journal",
    "JournalCounts",
    "LinkDown",
    "QueuedInstance",
    "Spool",
    "SpoolLocked",
    "is_locked",
    "read_uids",
    "run_agent",
    "spool_status",
    "start_scp",
]
