"""Verifying AI Hub's webhook deliveries (Standard Webhooks).

Each delivery carries ``webhook-id`` (the event id, the same on every retry),
``webhook-timestamp`` (unix seconds of the attempt) and ``webhook-signature``:
space-separated ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``
entries, one per active secret (two during a secret rotation). The HMAC key
is the endpoint secret's bytes after ``whsec_``, base64-decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional, Union

from ._errors import WebhookVerificationError

__all__ = ["verify", "sign", "WebhookVerificationError", "DEFAULT_TOLERANCE_SECONDS"]

#: How far (either way) a delivery's timestamp may be from now.
DEFAULT_TOLERANCE_SECONDS = 300

_PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (a bare base64 secret also works)."""
    raw = secret[len(_PREFIX):] if secret.startswith(_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the webhook secret is not 'whsec_' followed by base64") from e
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _as_bytes(payload: Union[bytes, bytearray, memoryview, str]) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return bytes(payload)


def sign(
    payload: Union[bytes, str], *, msg_id: str, timestamp: Union[int, str], secret: str
) -> str:
    """The ``webhook-signature`` value AI Hub sends for this body with this
    secret (one ``v1,…`` entry). Handy for tests of your own receiver."""
    mac = hmac.new(
        _key(secret),
        msg_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + _as_bytes(payload),
        hashlib.sha256,
    ).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify(
    payload: Union[bytes, str],
    headers: Mapping[str, str],
    secret: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Checks a delivery and returns its event (the parsed JSON body).

    ``payload`` must be the **raw** request body (re-serialised JSON has other
    bytes); ``headers`` any mapping of the request's headers (names in any
    case); ``secret`` the endpoint's ``whsec_…`` secret.

    Raises :class:`aihub.WebhookVerificationError` when a header is missing,
    no signature matches, or the timestamp is more than ``tolerance_seconds``
    away from now (replays).
    """
    lower = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    timestamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("invalid webhook-timestamp") from None
    current = time.time() if now is None else now
    if ts < current - tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if ts > current + tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")
    body = _as_bytes(payload)
    # The timestamp is signed as sent.
    expected = sign(body, msg_id=msg_id, timestamp=timestamp, secret=secret)
    matched = False
    for entry in signatures.split(" "):
        entry = entry.strip()
        if not entry.startswith("v1,"):
            continue
        if hmac.compare_digest(entry.encode("utf-8"), expected.encode("utf-8")):
            matched = True
    if not matched:
        raise WebhookVerificationError("no matching signature")
    try:
        event = json.loads(body)
    except ValueError as e:
        raise WebhookVerificationError("the body is not JSON") from e
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return event
