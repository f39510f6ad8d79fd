"""sharedcenter: the remote diagnosis pipeline of the county shared diagnostic centers."""

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
