"""The Modality Worklist SCP: pynetdicom answering C-FIND with the calling site's scheduled orders.

The calling AE title names the site (``Site.ae_title``, as for C-STORE to Orthanc); an association
from any other AE title is rejected (A-ASSOCIATE-RJ, "calling AE title not recognized"), read from
the database on every association so a site added to the region is served without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy import select

from sharedcenter.config import Settings
from sharedcenter.db import Database
from sharedcenter.db.models import Site
from sharedcenter.errors import InvalidInput, SharedCenterError
from sharedcenter.mwl.query import worklist_items

__all__ = ["MODALITY_WORKLIST_FIND", "VERIFICATION", "WorklistServer"]

logger = logging.getLogger(__name__)

#: pynetdicom.sop_class builds these names at run time, which mypy cannot see; the UIDs are PS3.4's
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
VERIFICATION = "1.2.840.10008.1.1"
_PENDING = 0xFF00
_BAD_IDENTIFIER = 0xA900
_UNABLE = 0xC000
#: what ``require_calling_aet`` answers when no site is active: matches no AE title (an empty list
#: would let everyone in)
_NOBODY = ["\\no-site\\"]


class _SiteAE(AE):
    """An AE whose accepted calling AE titles are the active sites', read when each association arrives.

    pynetdicom reads ``require_calling_aet`` during association negotiation; overriding its getter is
    the one hook it offers for rejecting unknown callers at that point.
    """

    def __init__(self, db: Database, ae_title: str) -> None:
        super().__init__(ae_title=ae_title)
        self._db = db

    @property
    def require_calling_aet(self) -> list[str]:
        with self._db.session() as session:
            titles = list(session.scalars(select(Site.ae_title).where(Site.active.is_(True))))
        return titles or _NOBODY

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        raise TypeError("require_calling_aet comes from the sites' AE titles in the database")


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status


class WorklistServer:
    """A Modality Worklist SCP over the orders in ``db``.

    Parameters
    ----------
    db
        The sharedcenter database (orders and sites).
    settings
        For the region's time zone and the deployment's UID entropy.
    ae_title
        This SCP's AE title.
    host, port
        Where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, db: Database, settings: Settings, *, ae_title: str = "SCMWL", host: str = "127.0.0.1",
                 port: int = 11112) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} must be between 0 and 65535")
        self.db, self.settings, self.host, self._port = db, settings, host, port
        self.ae = _SiteAE(db, ae_title)
        self.ae.add_supported_context(MODALITY_WORKLIST_FIND)
        self.ae.add_supported_context(VERIFICATION)
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one once started)."""
        return int(self._server.server_address[1]) if self._server is not None else self._port

    def _site_of(self, ae_title: str) -> str | None:
        with self.db.session() as session:
            return session.scalar(select(Site.code).where(Site.ae_title == ae_title.strip(), Site.active.is_(True)))

    def _on_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        calling = str(event.assoc.requestor.ae_title)
        site = self._site_of(calling)
        if site is None:  # the site was deactivated after the association was accepted
            yield _status(_UNABLE, f"no active site for AE title {calling}"), None
            return
        try:
            with self.db.session() as session:
                items = worklist_items(session, self.settings, site, event.identifier)
        except InvalidInput as exc:
            yield _status(_BAD_IDENTIFIER, str(exc)), None
            return
        except SharedCenterError as exc:
            logger.error("worklist query of %s failed: %s", calling, exc)
            yield _status(_UNABLE, "worklist unavailable"), None
            return
        logger.info("worklist C-FIND from %s (site %s): %d items", calling, site, len(items))
        for item in items:
            if event.is_cancelled:
                return
            yield _PENDING, item

    def _handlers(self) -> list[Any]:
        return [(evt.EVT_C_FIND, self._on_find)]

    def start(self) -> None:
        """Listen in a background thread."""
        self._server = self.ae.start_server((self.host, self._port), block=False, evt_handlers=self._handlers())

    def serve_forever(self) -> None:
        """Listen in this thread until interrupted."""
        self.ae.start_server((self.host, self._port), block=True, evt_handlers=self._handlers())

    def stop(self) -> None:
        """Stop listening and end open associations."""
        self.ae.shutdown()
        self._server = None
