"""The region (centers and sites) as data, and loading it into the database."""

from sharedcenter.region.model import CenterSpec, CountySpec, RegionSpec, SiteSpec, parse_region, read_region
from sharedcenter.region.service import LoadSummary, load_region

__all__ = [
    "CenterSpec",
    "CountySpec",
    "LoadSummary",
    "RegionSpec",
    "SiteSpec",
    "load_region",
    "parse_region",
    "read_region",
]
