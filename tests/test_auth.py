import datetime as dt
import hashlib

import pytest

from sharedcenter.auth import Principal, authenticate_token, create_user, issue_token, login
from sharedcenter.db import ApiToken, AuditEvent
from sharedcenter.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from sharedcenter.services import Services
from tests.conftest import PASSWORD


@pytest.mark.parametrize(("role", "site", "center", "message"), [
    ("technician", None, None, "technician needs an existing site"),
    ("technician", "c01-t01", "c01-img", "belongs to a site, not a center"),
    ("radiologist", None, "c01-ecg", "radiologist needs an existing imaging"),
    ("cardiologist", "c01-t01", None, "belongs to a center, not a site"),
    ("wizard", None, None, "role 'wizard' is not one of"),
])
def test_users_are_bound_to_the_right_place(services: Services, region: None, role: str, site: str | None,
                                            center: str | None, message: str) -> None:
    with services.db.session() as session, pytest.raises(InvalidInput, match=message):
        create_user(session, "someone", PASSWORD, role, site_code=site, center_code=center)


def test_password_rules_and_unique_names(services: Services, people: dict[str, Principal]) -> None:
    with services.db.session() as session:
        with pytest.raises(InvalidInput, match="at least 8"):
            create_user(session, "new", "short", "qc")
        with pytest.raises(InvalidInput, match="taken"):
            create_user(session, "tech", PASSWORD, "qc")


def test_password_login_and_failures_are_audited(services: Services, people: dict[str, Principal]) -> None:
    principal, token = login(services.db, "card", PASSWORD, dt.timedelta(hours=1))
    assert principal.center_code == "c01-ecg"
    with services.db.session() as session:
        assert authenticate_token(session, token).username == "card"
    for user, password in (("card", "wrong-password"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
            login(services.db, user, password, dt.timedelta(hours=1))
    with services.db.session() as session:
        actions = [(e.action, e.actor) for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    assert ("user.login", "user:card") in actions
    assert ("user.login_failed", "user:card") in actions and ("user.login_failed", "user:nobody") in actions


def test_tokens_expire_and_only_hashes_are_kept(services: Services, people: dict[str, Principal]) -> None:
    with services.db.session() as session:
        live = issue_token(session, people["rad"].user_id, "t", dt.timedelta(hours=1))
        dead = issue_token(session, people["rad"].user_id, "t", dt.timedelta(seconds=-1))
        forever = issue_token(session, people["rad"].user_id, "t", None)
    with services.db.session() as session:
        assert authenticate_token(session, live).username == "rad"
        assert authenticate_token(session, forever).username == "rad"
        with pytest.raises(AuthenticationFailed, match="expired"):
            authenticate_token(session, dead)
        with pytest.raises(AuthenticationFailed):
            authenticate_token(session, live + "x")
        stored = {t.token_sha256 for t in session.query(ApiToken)}
    assert live not in stored and hashlib.sha256(live.encode()).hexdigest() in stored


def test_scope_rules(people: dict[str, Principal]) -> None:
    people["tech"].require_site("c01-t01")
    people["admin"].require_site("c01-t02")
    with pytest.raises(PermissionDenied):
        people["tech"].require_site("c01-t02")
    with pytest.raises(PermissionDenied):
        people["rad"].require_site("c01-t01")
    people["rad"].require_reader("c01-img", "dicom")
    with pytest.raises(PermissionDenied):
        people["rad"].require_reader("c01-img", "ecg")
    with pytest.raises(PermissionDenied):
        people["rad_c02"].require_reader("c01-img", "dicom")
    with pytest.raises(PermissionDenied):
        people["qc"].require_reader("c01-img", "dicom")
