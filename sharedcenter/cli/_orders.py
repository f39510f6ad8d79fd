"""``sharedcenter orders create|list|cancel``: the site's worklist of orders, through the HTTP API."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from sharedcenter.cli._common import fail_cleanly
from sharedcenter.client import ApiClient

__all__ = ["orders"]

F = TypeVar("F", bound=Callable[..., Any])


def _api_options(func: F) -> F:
    """The connection options ``sharedcenter upload`` takes, the same way."""
    for option in reversed([
        click.option("--url", default=lambda: os.environ.get("SHAREDCENTER_URL", "http://127.0.0.1:8000"),
                     show_default="$SHAREDCENTER_URL or http://127.0.0.1:8000"),
        click.option("--token", envvar="SHAREDCENTER_TOKEN", help="API token ($SHAREDCENTER_TOKEN)"),
        click.option("--user", "username", help="log in with this user instead of a token"),
        click.option("--password", envvar="SHAREDCENTER_PASSWORD", help="password for --user"),
        click.option("--json", "as_json", is_flag=True, help="print JSON"),
    ]):
        func = option(func)
    return func


@contextmanager
def _client(url: str, token: str | None, username: str | None, password: str | None) -> Iterator[ApiClient]:
    client = ApiClient(url, token)
    try:
        if username:
            client.login(username, password or str(click.prompt("password", hide_input=True)))
        yield client
    finally:
        client.close()


def _show(order: dict[str, Any]) -> str:
    when = order["scheduled_at"] or "-"
    return (f"order {order['id']} {order['status']:<11} {order['site_code']} {order['modality']:<3} {when} "
            f"{order['accession_number'] or '-'} {order['patient_id']} {order['patient_name']}")


def _echo(value: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False))
    else:
        for line in lines:
            click.echo(line)


@click.group()
def orders() -> None:
    """Orders (申请单) on a site's DICOM Modality Worklist."""


@orders.command("create")
@click.option("--site", help="site code (technicians default to their own)")
@click.option("--patient-id", required=True)
@click.option("--patient-name", required=True, help="DICOM form, e.g. ZHANG^SAN, or 张三")
@click.option("--modality", required=True, help="CR, DX, CT, MR, US, MG, RF, XA or ECG")
@click.option("--scheduled-at", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]),
              help="local time (default now)")
@click.option("--accession", "accession_number", help="AccessionNumber (at most 16 characters)")
@click.option("--station", "station_ae_title", help="ScheduledStationAETitle of the modality")
@click.option("--birth-date", "patient_birth_date", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--sex", "patient_sex", type=click.Choice(["M", "F", "O"]))
@click.option("--procedure", "procedure_description", default="", help="requested procedure description")
@click.option("--expected-instances", type=int, help="the pre-read starts once this many instances arrived")
@click.option("--priority", type=click.Choice(["routine", "urgent", "stat"]), default="routine", show_default=True)
@_api_options
@fail_cleanly
def create(site: str | None, url: str, token: str | None, username: str | None, password: str | None,
           as_json: bool, **fields: Any) -> None:
    """Place an order on the site's worklist."""
    body = {k: v for k, v in fields.items() if v not in (None, "")}
    if isinstance(body.get("scheduled_at"), dt.datetime):
        body["scheduled_at"] = body["scheduled_at"].isoformat()
    if isinstance(body.get("patient_birth_date"), dt.datetime):
        body["patient_birth_date"] = body["patient_birth_date"].date().isoformat()
    if site:
        body["site"] = site
    with _client(url, token, username, password) as client:
        order = client.request("POST", "/api/orders", json=body)
    _echo(order, as_json, [_show(order)])


@orders.command("list")
@click.option("--site")
@click.option("--status", type=click.Choice(["scheduled", "in-progress", "completed", "cancelled"]))
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="scheduled on this local day")
@click.option("--modality")
@click.option("--limit", type=int, default=100, show_default=True)
@_api_options
@fail_cleanly
def list_(site: str | None, status: str | None, day: dt.datetime | None, modality: str | None, limit: int,
          url: str, token: str | None, username: str | None, password: str | None, as_json: bool) -> None:
    """List the orders you may see."""
    params: dict[str, Any] = {"site": site, "status": status, "modality": modality, "limit": limit,
                              "date": day.date().isoformat() if day else None}
    with _client(url, token, username, password) as client:
        rows = client.request("GET", "/api/orders", params={k: v for k, v in params.items() if v is not None})
    _echo(rows, as_json, [_show(o) for o in rows])


@orders.command("cancel")
@click.argument("order_id", type=int)
@click.option("--reason", default="")
@_api_options
@fail_cleanly
def cancel(order_id: int, reason: str, url: str, token: str | None, username: str | None, password: str | None,
           as_json: bool) -> None:
    """Take a scheduled order off the worklist."""
    with _client(url, token, username, password) as client:
        order = client.request("POST", f"/api/orders/{order_id}/cancel", json={"reason": reason})
    _echo(order, as_json, [_show(order)])

