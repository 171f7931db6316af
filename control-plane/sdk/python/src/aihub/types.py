"""The shapes of the API's answers, as ``TypedDict`` s (the SDK returns the
JSON as parsed: plain dicts and lists, so ``answer["field"]`` works and
nothing is lost when the API adds a field)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict

__all__ = [
    "Profile",
    "Session",
    "KeyLimits",
    "Key",
    "CreatedKey",
    "RegeneratedKey",
    "AccountLimits",
    "KeyList",
    "UsageTotals",
    "DayUsage",
    "KeyUsage",
    "WebhookEndpoint",
    "CreatedWebhookEndpoint",
    "WebhookEndpointList",
    "WebhookSecret",
    "RotatedWebhookSecret",
    "WebhookDelivery",
    "WebhookAttempt",
    "WebhookDeliveryWithAttempts",
    "WebhookTestResult",
    "DeliveryPage",
    "Event",
    "EventPage",
    "EventType",
    "ReplayResult",
    "RecoverResult",
]


class Profile(TypedDict):
    """``GET /api/v1/developer/profile``: the account as its owner sees it."""

    id: str
    email: str
    full_name: str
    company_name: Optional[str]
    #: ``individual`` or ``enterprise``.
    developer_type: str
    #: ``developer`` or ``admin``.
    role: str
    read_only: bool
    email_verified: bool
    #: ``en`` or ``zh-CN``.
    language: str
    created_at_ms: int
    api_rate_limit: int
    api_quota_limit: int


class Session(TypedDict):
    """The answer of login and refresh."""

    access_token: str
    #: Always ``"Bearer"``.
    token_type: str
    #: Seconds the access token lives.
    expires_in: int
    refresh_token: str
    developer: Profile


class KeyLimits(TypedDict):
    """A key's own limits; ``None`` = none (the account's limits still bind)."""

    requests_per_minute: Optional[int]
    tokens_per_minute: Optional[int]
    token_quota_total: Optional[int]
    token_quota_monthly: Optional[int]
    #: Decimal string in the account's currency, e.g. ``"25"`` (sent as ``"25.00"``).
    budget_total: Optional[str]
    budget_monthly: Optional[str]


class Key(TypedDict):
    """An API key as the developer sees it (never its secret)."""

    #: ``key_…``
    id: str
    name: str
    #: The secret's first and last characters, e.g. ``"ahub_AbCd…x9Yz"``.
    display_prefix: str
    enabled: bool
    created_at_ms: int
    #: ``None``: never expires.
    expires_at_ms: Optional[int]
    last_used_at_ms: Optional[int]
    #: ``None``: every model the plan offers.
    allowed_models: Optional[List[str]]
    #: ``None``: every endpoint (``chat``, ``completions``, ``embeddings``, ``batches``, ``files``).
    allowed_endpoints: Optional[List[str]]
    limits: KeyLimits
    #: ``None``: any address. IPs or CIDR ranges.
    ip_allowlist: Optional[List[str]]
    metadata: Dict[str, Any]


class CreatedKey(Key):
    """A key with its secret: shown once, at creation."""

    #: The full secret. Store it now: it is never shown again.
    secret: str


class RegeneratedKey(CreatedKey):
    """A regenerated key: the new secret, and until when the old one works."""

    grace_expires_at_ms: Optional[int]


class AccountLimits(TypedDict):
    """The account limits every key's own limits fit within (``None`` = unlimited)."""

    requests_per_minute: Optional[int]
    token_quota_monthly: Optional[int]


class KeyList(TypedDict):
    """``GET /api/v1/developer/keys``."""

    #: Newest first.
    data: List[Key]
    account_limits: AccountLimits


class UsageTotals(TypedDict):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    #: Cost in billionths of the currency unit.
    cost_nanos: int
    errors: int


class DayUsage(TypedDict):
    #: ``YYYY-MM-DD`` (UTC)
    date: str
    requests: int
    tokens: int
    cost_nanos: int
    errors: int


class KeyUsage(TypedDict):
    """``GET /api/v1/developer/keys/{id}/usage``."""

    key_id: str
    days: int
    totals: UsageTotals
    #: Every day of the window, oldest first, zeros included.
    by_day: List[DayUsage]
    last_used_at_ms: Optional[int]


class WebhookEndpoint(TypedDict):
    """A webhook endpoint (``ENDPOINT``)."""

    #: ``we_…``
    id: str
    url: str
    description: str
    event_types: List[str]
    enabled: bool
    disabled_reason: Optional[str]
    max_retries: int
    #: ``whsec_`` and the first four characters, e.g. ``"whsec_AbCd…"``.
    secret_hint: str
    previous_secret_expires_at_ms: Optional[int]
    failing_since_ms: Optional[int]
    created_at_ms: int
    updated_at_ms: int


class CreatedWebhookEndpoint(WebhookEndpoint):
    """An endpoint with its signing secret (``whsec_…``), at creation."""

    secret: str


class WebhookEndpointList(TypedDict):
    """``GET /api/v1/developer/webhooks`` (newest first; not paged)."""

    data: List[WebhookEndpoint]


class WebhookSecret(TypedDict):
    secret: str


class RotatedWebhookSecret(TypedDict):
    secret: str
    #: Until when the previous secret still signs (``None``: not at all).
    previous_secret_expires_at_ms: Optional[int]


class WebhookDelivery(TypedDict):
    """One delivery of an event to an endpoint (``DELIVERY``)."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    #: ``pending``, ``succeeded`` or ``failed``.
    status: str
    attempts: int
    #: Only while ``pending``.
    next_attempt_at_ms: Optional[int]
    last_status_code: Optional[int]
    last_error: Optional[str]
    created_at_ms: int
    finished_at_ms: Optional[int]


class WebhookAttempt(TypedDict):
    """One attempt at a delivery (``ATTEMPT``)."""

    #: ``wa_…``
    id: str
    attempted_at_ms: int
    duration_ms: int
    status_code: Optional[int]
    error: Optional[str]
    #: The first KiB of the receiver's answer (empty when none).
    response_body: str


class WebhookDeliveryWithAttempts(TypedDict):
    """``GET /api/v1/developer/webhook-deliveries/{id}``.

    The same fields as :class:`WebhookDelivery`, except ``attempts``: here
    the list of attempts (oldest first), not their count.
    """

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: List[WebhookAttempt]
    next_attempt_at_ms: Optional[int]
    last_status_code: Optional[int]
    last_error: Optional[str]
    created_at_ms: int
    finished_at_ms: Optional[int]


class WebhookTestResult(TypedDict):
    """``POST /api/v1/developer/webhooks/{id}/test``: what happened to the test send."""

    delivery: WebhookDelivery
    attempt: WebhookAttempt


class DeliveryPage(TypedDict):
    data: List[WebhookDelivery]
    has_more: bool


class Event(TypedDict):
    """An event (``EVENT``), also the body a webhook receives."""

    #: ``evt_…``: also the ``webhook-id`` of its deliveries.
    id: str
    type: str
    created_at_ms: int
    data: Any


class EventPage(TypedDict):
    data: List[Event]
    has_more: bool


class EventType(TypedDict):
    type: str
    description: str
    example: Any


class ReplayResult(TypedDict):
    data: List[WebhookDelivery]


class RecoverResult(TypedDict):
    requeued: int
