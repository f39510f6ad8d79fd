from pathlib import Path

import pytest
from sqlalchemy import select

from sharedcenter.db import Center, Site
from sharedcenter.errors import ImproperlyConfigured
from sharedcenter.region import load_region, parse_region, read_region
from sharedcenter.services import Services


def test_example_region_is_a_city_with_six_counties(services: Services) -> None:
    spec = read_region(services.settings.region_file)
    assert len(spec.counties) == 6
    assert all(13 <= len(c.sites) <= 20 for c in spec.counties)
    assert {c.kind for c in spec.centers} == {"city", "imaging", "ecg"}
    with services.db.session() as session:
        summary = load_region(session, spec)
    assert summary.sites == len(spec.sites) and summary.centers == 13
    with services.db.session() as session:
        site = session.get(Site, "c03-t02")
        assert site is not None and site.imaging_center_code == "c03-img" and site.ecg_center_code == "c03-ecg"
        assert site.ae_title == "C03T02DR"


def _minimal(**overrides: object) -> dict:
    data: dict = {
        "region": {"code": "T", "name": "测试市"},
        "city_center": {"code": "city", "name": "市中心"},
        "counties": [{
            "code": "k1", "name": "一县",
            "imaging_center": {"code": "k1-img", "name": "影像"},
            "ecg_center": {"code": "k1-ecg", "name": "心电"},
            "townships": [{"code": "k1-t1", "name": "一镇", "ae_title": "K1T1"},
                          {"code": "k1-t2", "name": "二镇", "ae_title": "K1T2"}],
        }],
    }
    data.update(overrides)
    return data


def test_every_problem_is_named_with_its_place() -> None:
    data = _minimal()
    towns = data["counties"][0]["townships"]
    towns[1]["ae_title"] = "K1T1"  # duplicate
    towns.append({"code": "k1-t3", "name": "三镇", "ae_title": "lower case!"})
    towns.append({"code": "k1-t4", "ae_title": "K1T4"})  # no name
    with pytest.raises(ImproperlyConfigured) as err:
        parse_region(data, "r.toml")
    text = str(err.value)
    assert "ae_title 'K1T1' is used twice" in text
    assert "counties[0].townships[2]: ae_title 'lower case!'" in text
    assert "counties[0].townships[3]: 'name' must be a non-empty string" in text


def test_bad_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[region\n")
    with pytest.raises(ImproperlyConfigured, match="not valid TOML"):
        read_region(path)
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        read_region(tmp_path / "missing.toml")


def test_reload_updates_and_deactivates_never_deletes(services: Services) -> None:
    data = _minimal()
    with services.db.session() as session:
        load_region(session, parse_region(data))
    data["counties"][0]["townships"].pop()
    data["counties"][0]["townships"][0]["name"] = "一镇（新名）"
    with services.db.session() as session:
        summary = load_region(session, parse_region(data))
    assert summary.deactivated_sites == 1
    with services.db.session() as session:
        sites = {s.code: s for s in session.scalars(select(Site))}
        assert sites["k1-t1"].name == "一镇（新名）" and sites["k1-t1"].active
        assert not sites["k1-t2"].active
        assert session.get(Center, "k1-img") is not None
