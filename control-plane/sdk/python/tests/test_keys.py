"""API keys: create (secret once), list, update, usage, regenerate, delete."""

from __future__ import annotations

from decimal import Decimal

import pytest

import aihub

KEY_FIELDS = {
    "id", "name", "display_prefix", "enabled", "created_at_ms", "expires_at_ms",
    "last_used_at_ms", "allowed_models", "allowed_endpoints", "limits", "ip_allowlist",
    "metadata",
}
LIMIT_FIELDS = {
    "requests_per_minute", "tokens_per_minute", "token_quota_total", "token_quota_monthly",
    "budget_total", "budget_monthly",
}


def test_key_lifecycle(client: aihub.Client) -> None:
    created = client.keys.create(
        "lifecycle",
        allowed_models=["gpt-4o-mini"],
        expires_in_days=30,
        limits={"requests_per_minute": 60, "budget_monthly": "25.00"},
        metadata={"team": "sdk"},
    )
    assert set(created) == KEY_FIELDS | {"secret"}
    assert set(created["limits"]) == LIMIT_FIELDS
    secret = created["secret"]
    assert secret
    assert created["name"] == "lifecycle"
    assert created["allowed_models"] == ["gpt-4o-mini"]
    assert created["limits"]["requests_per_minute"] == 60
    # A decimal string; the server normalises it ("25.00" comes back as "25").
    assert Decimal(str(created["limits"]["budget_monthly"])) == Decimal("25.00")
    assert created["metadata"] == {"team": "sdk"}
    assert created["expires_at_ms"] is not None
    assert created["display_prefix"].startswith(secret[:6])

    # Listed without the secret.
    listing = client.keys.list()
    assert set(listing) == {"data", "account_limits"}
    assert set(listing["account_limits"]) == {"requests_per_minute", "token_quota_monthly"}
    mine = [k for k in listing["data"] if k["id"] == created["id"]]
    assert len(mine) == 1
    assert "secret" not in mine[0]
    assert set(mine[0]) == KEY_FIELDS

    # Update: absent fields stay, None clears.
    updated = client.keys.update(created["id"], name="renamed", enabled=False, allowed_models=None)
    assert updated["name"] == "renamed"
    assert updated["enabled"] is False
    assert updated["allowed_models"] is None
    assert updated["metadata"] == {"team": "sdk"}
    assert "secret" not in updated

    usage = client.keys.usage(created["id"], days=7)
    assert usage["key_id"] == created["id"]
    assert usage["days"] == 7
    assert len(usage["by_day"]) == 7
    assert set(usage["totals"]) == {"requests", "prompt_tokens", "completion_tokens", "cost_nanos", "errors"}
    assert set(usage["by_day"][0]) == {"date", "requests", "tokens", "cost_nanos", "errors"}

    regenerated = client.keys.regenerate(created["id"], grace_seconds=60)
    assert regenerated["id"] == created["id"]
    assert regenerated["secret"] != secret
    assert regenerated["grace_expires_at_ms"] is not None
    at_once = client.keys.regenerate(created["id"])
    assert at_once["grace_expires_at_ms"] is None

    client.keys.delete(created["id"])
    assert all(k["id"] != created["id"] for k in client.keys.list()["data"])
    with pytest.raises(aihub.NotFoundError):
        client.keys.delete(created["id"])


def test_never_expiring_key(client: aihub.Client) -> None:
    key = client.keys.create("forever", expires_in_days=None)
    assert key["expires_at_ms"] is None
    client.keys.delete(key["id"])


def test_idempotency_key_makes_create_safe_to_retry(client: aihub.Client) -> None:
    first = client.keys.create("idem", idempotency_key="sdk-test-idem-1")
    again = client.keys.create("idem", idempotency_key="sdk-test-idem-1")
    assert again["id"] == first["id"]
    assert again["secret"] == first["secret"]
    # Without one given, each call gets its own: two keys.
    a = client.keys.create("auto-idem")
    b = client.keys.create("auto-idem")
    assert a["id"] != b["id"]
    # The same Idempotency-Key with another body: 409.
    with pytest.raises(aihub.ConflictError) as caught:
        client.keys.create("different", idempotency_key="sdk-test-idem-1")
    assert caught.value.status == 409
    assert caught.value.code == "idempotency_conflict"
    for k in (first, a, b):
        client.keys.delete(k["id"])


def test_unknown_key_is_not_found(client: aihub.Client) -> None:
    missing = "key_00000000000000000000000000000000"
    for call in (
        lambda: client.keys.update(missing, name="x"),
        lambda: client.keys.usage(missing),
        lambda: client.keys.regenerate(missing),
        lambda: client.keys.delete(missing),
    ):
        with pytest.raises(aihub.NotFoundError) as caught:
            call()
        assert caught.value.status == 404
        assert caught.value.code == "not_found"


def test_invalid_requests(client: aihub.Client) -> None:
    key = client.keys.create("invalid-requests")
    with pytest.raises(aihub.InvalidRequestError) as caught:
        client.keys.update(key["id"], no_such_field=1)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_request"
    assert "no_such_field" in caught.value.message

    with pytest.raises(aihub.InvalidRequestError) as caught:
        client.keys.usage(key["id"], days=0)
    assert "days" in caught.value.message

    with pytest.raises(aihub.InvalidRequestError):
        client.keys.create("bad-limits", limits={"requests_per_minute": "lots"})
    client.keys.delete(key["id"])


def test_errors_carry_status_code_and_message(client: aihub.Client) -> None:
    try:
        client.keys.usage("key_missing")
    except aihub.APIError as e:
        assert (e.status, e.code) == (404, "not_found")
        assert str(e).startswith("404 not_found: ")
    else:  # pragma: no cover
        pytest.fail("expected an APIError")
