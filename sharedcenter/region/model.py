"""The region as data: city center, counties with their imaging and ECG centers, townships.

Parsed from a TOML file (see ``sharedcenter/data/region_example.toml``); every problem is reported
with its place in the file, and nothing is loaded when any problem is found.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from sharedcenter.errors import ImproperlyConfigured

__all__ = ["CenterSpec", "CountySpec", "RegionSpec", "SiteSpec", "parse_region", "read_region"]

_AE_RE = re.compile(r"^[A-Z0-9_\-]{1,16}$")
_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@dataclasses.dataclass(frozen=True, slots=True)
class CenterSpec:
    code: str
    name: str
    kind: str
    county_code: str | None
    ae_title: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class SiteSpec:
    code: str
    name: str
    county_code: str
    ae_title: str
    imaging_center_code: str
    ecg_center_code: str


@dataclasses.dataclass(frozen=True, slots=True)
class CountySpec:
    code: str
    name: str
    imaging_center: CenterSpec
    ecg_center: CenterSpec
    sites: tuple[SiteSpec, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RegionSpec:
    code: str
    name: str
    city_center: CenterSpec
    counties: tuple[CountySpec, ...]

    @property
    def centers(self) -> list[CenterSpec]:
        out = [self.city_center]
        for county in self.counties:
            out += [county.imaging_center, county.ecg_center]
        return out

    @property
    def sites(self) -> list[SiteSpec]:
        return [site for county in self.counties for site in county.sites]


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def text(self, table: dict[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            self.items.append(f"{where}: '{key}' must be a non-empty string")
            return ""
        return value.strip()

    def code(self, table: dict[str, Any], where: str) -> str:
        code = self.text(table, "code", where)
        if code and not _CODE_RE.match(code):
            self.items.append(f"{where}: code {code!r} must be lower-case letters, digits, '-' or '_'")
        return code

    def ae_title(self, table: dict[str, Any], where: str, required: bool) -> str | None:
        if "ae_title" not in table and not required:
            return None
        aet = self.text(table, "ae_title", where)
        if aet and not _AE_RE.match(aet):
            self.items.append(f"{where}: ae_title {aet!r} must be 1-16 characters of A-Z 0-9 _ -")
        return aet or None


def _center(p: _Problems, table: object, kind: str, county: str | None, where: str) -> CenterSpec:
    if not isinstance(table, dict):
        p.items.append(f"{where}: missing table")
        table = {}
    return CenterSpec(p.code(table, where), p.text(table, "name", where), kind, county,
                      p.ae_title(table, where, required=False))


def _county(p: _Problems, table: dict[str, Any], i: int) -> CountySpec:
    where = f"counties[{i}]"
    code = p.code(table, where)
    img = _center(p, table.get("imaging_center"), "imaging", code, f"{where}.imaging_center")
    ecg = _center(p, table.get("ecg_center"), "ecg", code, f"{where}.ecg_center")
    towns = table.get("townships") or []
    if not towns:
        p.items.append(f"{where}: has no [[counties.townships]]")
    sites = tuple(
        SiteSpec(p.code(t, f"{where}.townships[{j}]"), p.text(t, "name", f"{where}.townships[{j}]"), code,
                 p.ae_title(t, f"{where}.townships[{j}]", required=True) or "", img.code, ecg.code)
        for j, t in enumerate(towns)
    )
    return CountySpec(code, p.text(table, "name", where), img, ecg, sites)


def _check_unique(p: _Problems, region: RegionSpec) -> None:
    seen: dict[str, str] = {}
    for code in [c.code for c in region.centers] + [s.code for s in region.sites]:
        if code in seen:
            p.items.append(f"code {code!r} is used twice")
        seen[code] = code
    aets: set[str] = set()
    for aet in [c.ae_title for c in region.centers if c.ae_title] + [s.ae_title for s in region.sites]:
        if aet in aets:
            p.items.append(f"ae_title {aet!r} is used twice")
        aets.add(aet)


def parse_region(data: dict[str, Any], source: str = "region") -> RegionSpec:
    """Validate a region mapping (as read from TOML).

    Raises
    ------
    ImproperlyConfigured
        Listing every problem found, each with its place.
    """
    p = _Problems()
    raw_head = data.get("region")
    head: dict[str, Any] = raw_head if isinstance(raw_head, dict) else {}
    if not head:
        p.items.append("[region]: missing table")
    counties = data.get("counties")
    if not isinstance(counties, list) or not counties:
        p.items.append("[[counties]]: at least one county is required")
        counties = []
    region = RegionSpec(
        p.text(head, "code", "[region]"), p.text(head, "name", "[region]"),
        _center(p, data.get("city_center"), "city", None, "[city_center]"),
        tuple(_county(p, c if isinstance(c, dict) else {}, i) for i, c in enumerate(counties)),
    )
    _check_unique(p, region)
    if p.items:
        raise ImproperlyConfigured(f"{source}: " + "; ".join(p.items))
    return region


def read_region(path: Path) -> RegionSpec:
    """Read and validate a region TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ImproperlyConfigured(f"region file {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"region file {path} is not valid TOML: {exc}") from exc
    return parse_region(data, str(path))
