"""Webhook signature verification (computed independently here with hmac),
real deliveries to a receiver in the test process, and paging of deliveries
and events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Dict

import pytest

import aihub
from aihub import webhooks

from conftest import System, WebhookReceiver, wait_for

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
BODY = json.dumps(
    {"id": "evt_test", "type": "webhook.test", "created_at_ms": 1, "data": {"message": "hi"}}
).encode()


def independent_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str = SECRET, body: bytes = BODY, timestamp: int = 0) -> Dict[str, str]:
    ts = timestamp or int(time.time())
    return {
        "webhook-id": "evt_test",
        "webhook-timestamp": str(ts),
        "webhook-signature": independent_signature(secret, "evt_test", ts, body),
    }


def test_reference_vector_of_the_standard() -> None:
    sig = webhooks.sign(
        b'{"test": 2432232314}',
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_valid_signature_passes_and_returns_the_event() -> None:
    event = webhooks.verify(BODY, signed_headers(), SECRET)
    assert event["type"] == "webhook.test"
    # Header names in any case; str bodies too.
    upper = {k.upper(): v for k, v in signed_headers().items()}
    assert webhooks.verify(BODY.decode(), upper, SECRET)["id"] == "evt_test"


def test_any_of_several_signatures_may_match() -> None:
    headers = signed_headers()
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    headers["webhook-signature"] = (
        independent_signature(other, "evt_test", int(headers["webhook-timestamp"]), BODY)
        + " "
        + headers["webhook-signature"]
    )
    assert webhooks.verify(BODY, headers, SECRET)["id"] == "evt_test"


def test_tampered_body_fails() -> None:
    with pytest.raises(aihub.WebhookVerificationError):
        webhooks.verify(BODY.replace(b"hi", b"ho"), signed_headers(), SECRET)


def test_wrong_secret_fails() -> None:
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with pytest.raises(aihub.WebhookVerificationError):
        webhooks.verify(BODY, signed_headers(), other)


def test_old_and_future_timestamps_fail() -> None:
    old = signed_headers(timestamp=int(time.time()) - 301)
    with pytest.raises(aihub.WebhookVerificationError, match="too old"):
        webhooks.verify(BODY, old, SECRET)
    future = signed_headers(timestamp=int(time.time()) + 301)
    with pytest.raises(aihub.WebhookVerificationError, match="future"):
        webhooks.verify(BODY, future, SECRET)
    # A wider tolerance accepts the old one.
    assert webhooks.verify(BODY, old, SECRET, tolerance_seconds=600)["id"] == "evt_test"


def test_missing_headers_and_other_versions_fail() -> None:
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = signed_headers()
        del headers[name]
        with pytest.raises(aihub.WebhookVerificationError):
            webhooks.verify(BODY, headers, SECRET)
    headers = signed_headers()
    headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(aihub.WebhookVerificationError):
        webhooks.verify(BODY, headers, SECRET)
    headers = signed_headers()
    headers["webhook-id"] = "evt_other"
    with pytest.raises(aihub.WebhookVerificationError):
        webhooks.verify(BODY, headers, SECRET)


def test_real_deliveries_verify(system: System, client: aihub.Client, receiver: WebhookReceiver) -> None:
    endpoint = client.webhooks.create(receiver.url, description="sdk tests")
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert endpoint["event_types"] == ["*"]
    assert endpoint["secret_hint"].startswith(secret[:10])
    assert "secret" not in client.webhooks.get(endpoint["id"])
    assert any(e["id"] == endpoint["id"] for e in client.webhooks.list()["data"])
    assert client.webhooks.secret(endpoint["id"])["secret"] == secret

    # A test send: answered with the delivery and its attempt.
    result = client.webhooks.test(endpoint["id"])
    assert result["delivery"]["status"] == "succeeded"
    assert result["delivery"]["event_type"] == "webhook.test"
    assert result["attempt"]["status_code"] == 200
    sent = wait_for("the test delivery", lambda: [r for r in receiver.requests if r.headers.get("x-aihub-event") == "webhook.test"])
    event = aihub.webhooks.verify(sent[0].body, sent[0].headers, secret)
    assert event["type"] == "webhook.test"
    assert event["id"] == sent[0].headers["webhook-id"] == result["delivery"]["event_id"]
    assert event["data"]["endpoint_id"] == endpoint["id"]
    with pytest.raises(aihub.WebhookVerificationError):
        aihub.webhooks.verify(sent[0].body + b" ", sent[0].headers, secret)

    # The reference implementation agrees.
    standardwebhooks = pytest.importorskip("standardwebhooks")
    assert standardwebhooks.Webhook(secret).verify(sent[0].body, sent[0].headers)["id"] == event["id"]

    # An event the system emits on its own, delivered by its worker.
    key = client.keys.create("webhook-trigger")
    delivered = wait_for(
        "the api_key.created delivery",
        lambda: [
            r for r in receiver.requests
            if r.headers.get("x-aihub-event") == "api_key.created"
            and json.loads(r.body)["data"]["id"] == key["id"]
        ],
    )
    created_event = aihub.webhooks.verify(delivered[0].body, delivered[0].headers, secret)
    assert created_event["data"]["name"] == "webhook-trigger"
    assert "secret" not in created_event["data"]
    assert client.events.get(created_event["id"])["id"] == created_event["id"]

    # During a rotation both secrets sign.
    rotated = client.webhooks.rotate_secret(endpoint["id"], grace_seconds=3600)
    assert rotated["secret"] != secret and rotated["previous_secret_expires_at_ms"]
    before = len(receiver.requests)
    client.webhooks.test(endpoint["id"])
    last = wait_for("the test after rotation", lambda: receiver.requests[before:])[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 2
    aihub.webhooks.verify(last.body, last.headers, rotated["secret"])
    aihub.webhooks.verify(last.body, last.headers, secret)

    # The delivery with its attempts.
    detail = client.webhooks.delivery(result["delivery"]["id"])
    assert isinstance(detail["attempts"], list) and detail["attempts"][0]["status_code"] == 200

    # Disabled endpoints refuse test sends with 409.
    assert client.webhooks.update(endpoint["id"], enabled=False)["enabled"] is False
    with pytest.raises(aihub.ConflictError):
        client.webhooks.test(endpoint["id"])
    client.webhooks.delete(endpoint["id"])
    with pytest.raises(aihub.NotFoundError):
        client.webhooks.get(endpoint["id"])
    client.keys.delete(key["id"])


def test_webhook_errors(client: aihub.Client) -> None:
    with pytest.raises(aihub.InvalidRequestError):
        client.webhooks.create("ftp://example.com/hooks")
    with pytest.raises(aihub.InvalidRequestError):
        client.webhooks.create("http://127.0.0.1:9/hooks", event_types=["no.such.type"])
    with pytest.raises(aihub.NotFoundError):
        client.webhooks.test("we_00000000000000000000000000000000")
    with pytest.raises(aihub.NotFoundError):
        client.webhooks.deliveries("we_00000000000000000000000000000000")


def test_deliveries_page_by_page(client: aihub.Client, receiver: WebhookReceiver) -> None:
    endpoint = client.webhooks.create(receiver.url, event_types=["webhook.test"])
    sent = [client.webhooks.test(endpoint["id"])["delivery"]["id"] for _ in range(3)]

    first = client.webhooks.deliveries(endpoint["id"], limit=2)
    assert len(first["data"]) == 2 and first["has_more"] is True
    second = client.webhooks.deliveries(endpoint["id"], limit=2, starting_after=first["data"][-1]["id"])
    assert len(second["data"]) == 1 and second["has_more"] is False

    all_ids = [d["id"] for d in client.iter_deliveries(endpoint["id"], page_size=1)]
    assert all_ids == list(reversed(sent))  # newest first
    assert [d["id"] for d in client.webhooks.iter_deliveries(endpoint["id"], status="succeeded")] == all_ids
    assert list(client.iter_deliveries(endpoint["id"], status="failed")) == []
    client.webhooks.delete(endpoint["id"])


def test_events_page_by_page(client: aihub.Client) -> None:
    since = int(time.time() * 1000) - 1
    keys = [client.keys.create(f"paging-{i}") for i in range(3)]
    events = list(client.iter_events(type="api_key.created", since_ms=since, page_size=1))
    created_ids = [e["data"]["id"] for e in events]
    assert set(k["id"] for k in keys) <= set(created_ids)
    # Newest first, no duplicates across pages.
    assert len(set(e["id"] for e in events)) == len(events)
    assert [e["created_at_ms"] for e in events] == sorted((e["created_at_ms"] for e in events), reverse=True)

    page = client.events.list(type=["api_key.created", "api_key.deleted"], since_ms=since, limit=1)
    assert len(page["data"]) == 1 and page["has_more"] is True
    assert any(t["type"] == "api_key.created" for t in client.events.types())
    for k in keys:
        client.keys.delete(k["id"])
