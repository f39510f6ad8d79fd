"""The clinic side of ``sharedcenter upload``: files, folders, zips and DICOMDIRs to the county, resumable.

:func:`collect` turns the inputs into items (and skipped files with their reasons),
:func:`plan_batches` groups them by study into requests, :func:`send_batches` sends what the
:class:`Journal` has not seen acknowledged, with retries (:class:`RetryPolicy`), and returns a
:class:`Summary`.  ``sharedcenter.cli._upload`` only wires these to the command line.
"""

from sharedcenter.upload._archive import ArchiveLimits, open_archive
from sharedcenter.upload._inputs import Inputs, Item, Skipped, collect, dicomdir_files
from sharedcenter.upload._journal import Journal, journal_dir
from sharedcenter.upload._plan import Batch, BatchLimits, plan_batches
from sharedcenter.upload._send import RetryPolicy, Summary, send_batches

__all__ = [
    "ArchiveLimits",
    "Batch",
    "BatchLimits",
    "Inputs",
    "Item",
    "Journal",
    "RetryPolicy",
    "Skipped",
    "Summary",
    "collect",
    "dicomdir_files",
    "journal_dir",
    "open_archive",
    "plan_batches",
    "send_batches",
]
