"""Sessions: login, profile, refresh on 401, logout, and the errors of each."""

from __future__ import annotations

from typing import List

import pytest

import aihub
from aihub.types import Session

from conftest import PASSWORD, System


def test_login_and_profile(system: System, developer: str) -> None:
    client = aihub.Client(system.base_url)
    session = client.login(developer, PASSWORD)
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] > 0
    assert session["access_token"] and session["refresh_token"]
    assert session["developer"]["email"] == developer
    assert client.access_token == session["access_token"]

    profile = client.profile()
    assert profile["email"] == developer
    assert profile["id"].startswith("dev_")
    assert profile["email_verified"] is True
    assert profile["role"] == "developer"
    assert set(profile) == {
        "id", "email", "full_name", "company_name", "developer_type", "role", "read_only",
        "email_verified", "language", "created_at_ms", "api_rate_limit", "api_quota_limit",
    }
    client.close()


def test_credentials_in_the_constructor_log_in_on_first_call(system: System, developer: str) -> None:
    with aihub.Client(system.base_url, email=developer, password=PASSWORD) as client:
        assert client.access_token is None
        assert client.profile()["email"] == developer
        assert client.access_token is not None


def test_bad_password_is_an_authentication_error(system: System, developer: str) -> None:
    client = aihub.Client(system.base_url)
    with pytest.raises(aihub.AuthenticationError) as caught:
        client.login(developer, "wrong-password-123")
    err = caught.value
    assert isinstance(err, aihub.APIError)
    assert err.status == 401
    assert err.code == "invalid_credentials"
    assert err.message


def test_no_token_at_all_is_an_authentication_error(system: System) -> None:
    client = aihub.Client(system.base_url)
    with pytest.raises(aihub.AuthenticationError) as caught:
        client.profile()
    assert caught.value.code == "unauthorized"


def test_invalid_access_token_is_refreshed_once_and_the_call_repeated(
    system: System, developer: str
) -> None:
    first = aihub.Client(system.base_url)
    session = first.login(developer, PASSWORD)

    seen: List[Session] = []
    client = aihub.Client(
        system.base_url,
        access_token="not-a-valid-access-token",
        refresh_token=session["refresh_token"],
        on_session=seen.append,
    )
    assert client.profile()["email"] == developer
    assert len(seen) == 1
    assert client.access_token == seen[0]["access_token"] != "not-a-valid-access-token"
    # Refresh rotates the refresh token.
    assert client.refresh_token == seen[0]["refresh_token"] != session["refresh_token"]
    # Later calls use the new token without refreshing again.
    client.keys.list()
    assert len(seen) == 1


def test_failed_refresh_without_password_raises(system: System, developer: str) -> None:
    client = aihub.Client(
        system.base_url, access_token="bad", refresh_token="also-not-a-refresh-token"
    )
    with pytest.raises(aihub.AuthenticationError) as caught:
        client.profile()
    assert caught.value.status == 401


def test_failed_refresh_with_password_logs_in_again(system: System, developer: str) -> None:
    client = aihub.Client(
        system.base_url,
        email=developer,
        password=PASSWORD,
        access_token="bad",
        refresh_token="also-bad",
    )
    assert client.profile()["email"] == developer


def test_logout_ends_the_session(system: System, developer: str) -> None:
    client = aihub.Client(system.base_url)
    session = client.login(developer, PASSWORD)
    client.profile()
    client.logout()
    assert client.access_token is None and client.refresh_token is None

    # Both of the session's tokens are refused now.
    stale = aihub.Client(system.base_url, access_token=session["access_token"])
    with pytest.raises(aihub.AuthenticationError):
        stale.profile()
    with pytest.raises(aihub.AuthenticationError) as caught:
        aihub.Client(system.base_url, refresh_token=session["refresh_token"]).refresh()
    assert caught.value.code == "invalid_token"


def test_unverified_address_cannot_create_keys(system: System) -> None:
    address = system.new_developer("unverified")
    with aihub.Client(system.base_url, email=address, password=PASSWORD) as client:
        assert client.profile()["email_verified"] is False
        with pytest.raises(aihub.PermissionDeniedError) as caught:
            client.keys.create("nope")
        assert caught.value.status == 403
        assert caught.value.code == "email_not_verified"


def test_too_many_bad_passwords_is_a_rate_limit_error(system: System) -> None:
    # The fixture's control plane locks an account after 3 failures.
    address = system.new_developer("locked")
    client = aihub.Client(system.base_url)
    for _ in range(3):
        with pytest.raises(aihub.AuthenticationError):
            client.login(address, "wrong-password-123")
    with pytest.raises(aihub.RateLimitError) as caught:
        client.login(address, PASSWORD)
    err = caught.value
    assert err.status == 429
    assert err.code == "too_many_attempts"
    assert err.retry_after is not None and err.retry_after > 0


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expired_copy(access_token: str) -> str:
    """The same access token (same session), expired an hour ago, signed as
    the control plane signs (HS256 with the fixture's auth.token_secret)."""
    import base64
    import hashlib
    import hmac
    import json
    import time

    from conftest import TOKEN_SECRET

    header, payload, _ = access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    signing_input = f"{header}.{_b64url(json.dumps(claims).encode())}"
    mac = hmac.new(TOKEN_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def test_expired_access_token_is_refreshed(system: System, developer: str) -> None:
    first = aihub.Client(system.base_url)
    session = first.login(developer, PASSWORD)
    expired = _expired_copy(session["access_token"])
    # The forgery is right but expired: the server refuses it as such.
    with pytest.raises(aihub.AuthenticationError) as caught:
        aihub.Client(system.base_url, access_token=expired).profile()
    assert caught.value.code == "unauthorized"

    client = aihub.Client(
        system.base_url, access_token=expired, refresh_token=session["refresh_token"]
    )
    assert client.keys.list()["data"] is not None
    assert client.access_token != expired
    # (The new access token may equal the login's: same session, same second.)
    assert client.refresh_token != session["refresh_token"]
