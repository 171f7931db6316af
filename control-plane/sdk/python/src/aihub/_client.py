"""The management API client."""

from __future__ import annotations

import threading
import time
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
    cast,
)

import httpx

from ._errors import (
    APIConnectionError,
    AuthenticationError,
    error_from_response,
)
from ._version import __version__
from .types import (
    CreatedKey,
    CreatedWebhookEndpoint,
    DeliveryPage,
    Event,
    EventPage,
    EventType,
    Key,
    KeyLimits,
    KeyList,
    KeyUsage,
    Profile,
    RecoverResult,
    RegeneratedKey,
    ReplayResult,
    RotatedWebhookSecret,
    Session,
    WebhookDelivery,
    WebhookDeliveryWithAttempts,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookSecret,
    WebhookTestResult,
)

if TYPE_CHECKING:  # pragma: no cover
    import openai

__all__ = ["Client", "NOT_GIVEN", "DEFAULT_TIMEOUT"]

T = TypeVar("T")


class _NotGiven:
    """Marks an argument that was not passed (``None`` means JSON ``null``)."""

    _instance: Optional["_NotGiven"] = None

    def __new__(cls) -> "_NotGiven":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


#: The default of arguments whose ``None`` means something (JSON ``null``).
NOT_GIVEN: Any = _NotGiven()

#: Seconds to wait for an answer.
DEFAULT_TIMEOUT = 30.0

_API = "/api/v1"
_RETRY_STATUSES = {502, 503, 504}


def _drop_not_given(fields: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not NOT_GIVEN}


def _new_idempotency_key() -> str:
    return f"aihub-py-{uuid.uuid4().hex}"


class Client:
    """A client of AI Hub's management API (``/api/v1``), synchronous.

    ``base_url`` is the address of an AI Hub deployment, e.g.
    ``https://aihub.example.com``: the gateway serves both the management API
    (``/api/...``, forwarded to the control plane) and the OpenAI-compatible
    API (``/v1/...``), so one address serves both.

    Authentication: pass ``email`` and ``password`` (the client logs in on
    its first call), or tokens you kept from an earlier session, or call
    :meth:`login`. When a call is refused with 401 and a refresh token is
    known, the client refreshes the session once and repeats the call (if
    that fails too and it knows the password, it logs in again). New tokens
    are passed to ``on_session`` so you can store them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        email: Optional[str] = None,
        password: Optional[str] = None,
        access_token: Optional[str] = None,
        refresh_token: Optional[str] = None,
        timeout: Union[float, httpx.Timeout] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        on_session: Optional[Callable[[Session], None]] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._email = email
        self._password = password
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._max_retries = max(0, max_retries)
        self._on_session = on_session
        self._auth_lock = threading.RLock()
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._headers: Dict[str, str] = {
            "user-agent": f"aihub-python/{__version__}",
            "accept": "application/json",
        }
        if headers:
            self._headers.update(headers)
        #: The developer's profile from the last login or refresh.
        self.developer: Optional[Profile] = None
        self.keys = Keys(self)
        self.webhooks = Webhooks(self)
        self.events = Events(self)

    # -- plumbing -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The deployment's address, without a trailing slash."""
        return self._base_url

    @property
    def access_token(self) -> Optional[str]:
        """The current access token (changes on refresh)."""
        return self._access_token

    @property
    def refresh_token(self) -> Optional[str]:
        """The current refresh token (changes on every refresh)."""
        return self._refresh_token

    def close(self) -> None:
        """Closes the HTTP connections (unless an ``http_client`` was passed in)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = NOT_GIVEN,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        token: Optional[str] = None,
    ) -> httpx.Response:
        """One request, retried on connection failures and 502/503/504 when
        repeating it is safe (reads, PUTs, and POSTs with an Idempotency-Key)."""
        all_headers = dict(self._headers)
        if headers:
            all_headers.update(headers)
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        safe = method in ("GET", "HEAD", "PUT") or any(
            k.lower() == "idempotency-key" for k in all_headers
        )
        clean_params = (
            {k: v for k, v in params.items() if v is not None} if params else None
        )
        kwargs: Dict[str, Any] = {"headers": all_headers, "params": clean_params}
        if json is not NOT_GIVEN:
            kwargs["json"] = json
        url = self._base_url + path
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as e:
                if safe and attempt < self._max_retries:
                    attempt += 1
                    time.sleep(min(0.25 * 2**attempt, 4.0))
                    continue
                raise APIConnectionError(f"{method} {path}: {e}") from e
            if (
                response.status_code in _RETRY_STATUSES
                and safe
                and attempt < self._max_retries
            ):
                attempt += 1
                time.sleep(min(0.25 * 2**attempt, 4.0))
                continue
            return response

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = NOT_GIVEN,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        authenticated: bool = True,
    ) -> Any:
        """Calls any route (``path`` from the host, e.g. ``/api/v1/...``) and
        returns the parsed JSON answer (``None`` for an empty one).

        Raises :class:`aihub.APIError` (a subclass by status) on a non-2xx
        answer. With ``authenticated``, the access token is sent and renewed
        once on a 401.
        """
        method = method.upper()
        if not authenticated:
            response = self._send(method, path, json=json, params=params, headers=headers)
        else:
            token = self._current_token()
            response = self._send(
                method, path, json=json, params=params, headers=headers, token=token
            )
            if response.status_code == 401 and self._reauthenticate(token):
                response = self._send(
                    method,
                    path,
                    json=json,
                    params=params,
                    headers=headers,
                    token=self._access_token,
                )
        if response.is_error:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _current_token(self) -> Optional[str]:
        with self._auth_lock:
            if self._access_token is None:
                if self._refresh_token is not None:
                    try:
                        self.refresh()
                    except AuthenticationError:
                        if not self._can_login():
                            raise
                        self.login()
                elif self._can_login():
                    self.login()
            return self._access_token

    def _can_login(self) -> bool:
        return self._email is not None and self._password is not None

    def _reauthenticate(self, refused_token: Optional[str]) -> bool:
        """After a 401: a fresh access token, if one can be had. True when
        the call is worth repeating."""
        with self._auth_lock:
            if self._access_token is not None and self._access_token != refused_token:
                return True  # another thread already renewed it
            if self._refresh_token is not None:
                try:
                    self.refresh()
                    return True
                except AuthenticationError:
                    pass
            if self._can_login():
                self.login()
                return True
            return False

    def _take_session(self, session: Session) -> Session:
        self._access_token = session["access_token"]
        self._refresh_token = session["refresh_token"]
        self.developer = session.get("developer")
        if self._on_session is not None:
            self._on_session(session)
        return session

    # -- sessions -----------------------------------------------------------

    def login(self, email: Optional[str] = None, password: Optional[str] = None) -> Session:
        """``POST /api/v1/developer/login``: opens a session and keeps its
        tokens. Without arguments, uses the credentials given to the client.

        A wrong email or password raises :class:`aihub.AuthenticationError`
        (code ``invalid_credentials``); too many failures,
        :class:`aihub.RateLimitError` (``too_many_attempts``).
        """
        if email is not None:
            self._email = email
        if password is not None:
            self._password = password
        if self._email is None or self._password is None:
            raise ValueError("login needs an email and a password")
        with self._auth_lock:
            session = cast(
                Session,
                self.request(
                    "POST",
                    f"{_API}/developer/login",
                    json={"email": self._email, "password": self._password},
                    authenticated=False,
                ),
            )
            return self._take_session(session)

    def refresh(self) -> Session:
        """``POST /api/v1/developer/refresh``: new access and refresh tokens
        (the old refresh token stops working). Done for you on a 401."""
        if self._refresh_token is None:
            raise ValueError("no refresh token: log in first")
        with self._auth_lock:
            session = cast(
                Session,
                self.request(
                    "POST",
                    f"{_API}/developer/refresh",
                    json={"refresh_token": self._refresh_token},
                    authenticated=False,
                ),
            )
            return self._take_session(session)

    def logout(self) -> None:
        """``POST /api/v1/developer/logout``: ends the session (its access
        tokens stop working too) and forgets the tokens."""
        with self._auth_lock:
            refresh_token = self._refresh_token
            self._access_token = None
            self._refresh_token = None
            self.developer = None
            if refresh_token is not None:
                self.request(
                    "POST",
                    f"{_API}/developer/logout",
                    json={"refresh_token": refresh_token},
                    authenticated=False,
                )

    # -- account ------------------------------------------------------------

    def register(
        self,
        email: str,
        password: str,
        full_name: str,
        *,
        developer_type: str = "individual",
        company_name: Optional[str] = None,
        language: Optional[str] = None,
        invite_code: Optional[str] = None,
    ) -> Dict[str, Any]:
        """``POST /api/v1/developer/register`` → ``{"status": "verification_sent"}``
        (202, whether or not the address already has an account)."""
        body: Dict[str, Any] = {
            "email": email,
            "password": password,
            "full_name": full_name,
            "developer_type": developer_type,
        }
        for k, v in (
            ("company_name", company_name),
            ("language", language),
            ("invite_code", invite_code),
        ):
            if v is not None:
                body[k] = v
        return cast(
            Dict[str, Any],
            self.request(
                "POST", f"{_API}/developer/register", json=body, authenticated=False
            ),
        )

    def verify_email(self, token: str) -> Dict[str, Any]:
        """``POST /api/v1/developer/verify-email`` with the token of the
        emailed link → ``{"status": "verified"}``."""
        return cast(
            Dict[str, Any],
            self.request(
                "POST",
                f"{_API}/developer/verify-email",
                json={"token": token},
                authenticated=False,
            ),
        )

    def resend_verification(self, email: str) -> Dict[str, Any]:
        """``POST /api/v1/developer/resend-verification`` → 202
        ``{"status": "verification_sent"}``, whatever the address."""
        return cast(
            Dict[str, Any],
            self.request(
                "POST",
                f"{_API}/developer/resend-verification",
                json={"email": email},
                authenticated=False,
            ),
        )

    def profile(self) -> Profile:
        """``GET /api/v1/developer/profile``."""
        return cast(Profile, self.request("GET", f"{_API}/developer/profile"))

    def update_profile(
        self,
        *,
        full_name: Optional[str] = None,
        company_name: Optional[str] = None,
        developer_type: Optional[str] = None,
        language: Optional[str] = None,
    ) -> Profile:
        """``PATCH /api/v1/developer/profile``: changes the fields given."""
        body = {
            k: v
            for k, v in {
                "full_name": full_name,
                "company_name": company_name,
                "developer_type": developer_type,
                "language": language,
            }.items()
            if v is not None
        }
        return cast(Profile, self.request("PATCH", f"{_API}/developer/profile", json=body))

    # -- paging helpers -----------------------------------------------------

    def iter_events(
        self,
        *,
        type: Union[str, Sequence[str], None] = None,
        since_ms: Optional[int] = None,
        until_ms: Optional[int] = None,
        page_size: int = 100,
        starting_after: Optional[str] = None,
    ) -> Iterator[Event]:
        """Every event matching the filters, newest first, fetching pages of
        ``page_size`` as needed (follows ``has_more`` / ``starting_after``)."""
        return self.events.iter(
            type=type,
            since_ms=since_ms,
            until_ms=until_ms,
            page_size=page_size,
            starting_after=starting_after,
        )

    def iter_deliveries(
        self,
        endpoint_id: str,
        *,
        status: Optional[str] = None,
        event_type: Optional[str] = None,
        page_size: int = 100,
        starting_after: Optional[str] = None,
    ) -> Iterator[WebhookDelivery]:
        """Every delivery of a webhook endpoint, newest first, page by page."""
        return self.webhooks.iter_deliveries(
            endpoint_id,
            status=status,
            event_type=event_type,
            page_size=page_size,
            starting_after=starting_after,
        )

    # -- the OpenAI-compatible API -----------------------------------------

    def openai(self, api_key: str, **kwargs: Any) -> "openai.OpenAI":
        """An official ``openai.OpenAI`` client for this deployment's
        OpenAI-compatible API (``base_url + "/v1"``), with an AI Hub API key
        (``secret`` of :meth:`Keys.create`). Extra arguments go to
        ``openai.OpenAI`` (``timeout``, ``max_retries``, ...)."""
        return openai_client(self._base_url, api_key, **kwargs)

    def wait_for_key(self, api_key: str, timeout: float = 10.0) -> None:
        """Waits until the gateway accepts a new (or regenerated) key: keys
        reach the gateways within about a second of being created. Polls
        ``GET /v1/models`` with the key; raises ``TimeoutError`` after
        ``timeout`` seconds, or :class:`aihub.APIError` for an answer other
        than 200 or 401."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._send(
                "GET", "/v1/models", headers={"authorization": f"Bearer {api_key}"}
            )
            if response.status_code == 200:
                return
            if response.status_code != 401:
                raise error_from_response(response)
            if time.monotonic() >= deadline:
                raise TimeoutError("the gateway does not accept the key yet")
            time.sleep(0.1)


def openai_client(base_url: str, api_key: str, **kwargs: Any) -> "openai.OpenAI":
    """An official ``openai.OpenAI`` client for the AI Hub at ``base_url``
    (the deployment's address; ``/v1`` is appended unless already there).
    Needs the ``openai`` package (``pip install "aihub[openai]"``)."""
    try:
        import openai
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the OpenAI helper needs the openai package: pip install 'aihub[openai]'"
        ) from e
    root = base_url.rstrip("/")
    if not root.endswith("/v1"):
        root += "/v1"
    return openai.OpenAI(base_url=root, api_key=api_key, **kwargs)


def _paginate(
    fetch: Callable[[Optional[str]], Mapping[str, Any]], starting_after: Optional[str]
) -> Iterator[Any]:
    cursor = starting_after
    while True:
        page = fetch(cursor)
        data: List[Any] = list(page.get("data") or [])
        yield from data
        if not page.get("has_more") or not data:
            return
        cursor = data[-1]["id"]


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class Keys(_Resource):
    """The developer's API keys: ``/api/v1/developer/keys*``."""

    def list(self) -> KeyList:
        """``GET /api/v1/developer/keys``: ``{"data": [KEY…], "account_limits"}``,
        newest first (not paged)."""
        return cast(KeyList, self._client.request("GET", f"{_API}/developer/keys"))

    def create(
        self,
        name: str,
        *,
        allowed_models: Optional[Sequence[str]] = None,
        expires_in_days: Optional[int] = NOT_GIVEN,
        allowed_endpoints: Optional[Sequence[str]] = None,
        limits: Optional[Union[KeyLimits, Mapping[str, Any]]] = None,
        ip_allowlist: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> CreatedKey:
        """``POST /api/v1/developer/keys``: a new key, with its ``secret``
        (shown this once).

        ``expires_in_days``: not given = the deployment's default lifetime,
        ``None`` = never expires. The request carries an ``Idempotency-Key``
        (``idempotency_key``, or a random one) so that a retry after a lost
        answer returns the same key instead of making a second one.
        """
        body = _drop_not_given(
            {
                "name": name,
                "allowed_models": list(allowed_models) if allowed_models is not None else NOT_GIVEN,
                "expires_in_days": expires_in_days,
                "allowed_endpoints": list(allowed_endpoints)
                if allowed_endpoints is not None
                else NOT_GIVEN,
                "limits": dict(limits) if limits is not None else NOT_GIVEN,
                "ip_allowlist": list(ip_allowlist) if ip_allowlist is not None else NOT_GIVEN,
                "metadata": dict(metadata) if metadata is not None else NOT_GIVEN,
            }
        )
        return cast(
            CreatedKey,
            self._client.request(
                "POST",
                f"{_API}/developer/keys",
                json=body,
                headers={"Idempotency-Key": idempotency_key or _new_idempotency_key()},
            ),
        )

    def update(
        self,
        id: str,
        *,
        name: str = NOT_GIVEN,
        enabled: bool = NOT_GIVEN,
        allowed_models: Optional[Sequence[str]] = NOT_GIVEN,
        expires_at_ms: Optional[int] = NOT_GIVEN,
        allowed_endpoints: Optional[Sequence[str]] = NOT_GIVEN,
        limits: Optional[Union[KeyLimits, Mapping[str, Any]]] = NOT_GIVEN,
        ip_allowlist: Optional[Sequence[str]] = NOT_GIVEN,
        metadata: Optional[Mapping[str, Any]] = NOT_GIVEN,
        **fields: Any,
    ) -> Key:
        """``PUT /api/v1/developer/keys/{id}``: fields not given stay as they
        are; ``None`` clears one (all limits, all metadata); ``limits``
        replaces every limit. Other keyword arguments are sent as they are."""
        body = _drop_not_given(
            {
                "name": name,
                "enabled": enabled,
                "allowed_models": allowed_models,
                "expires_at_ms": expires_at_ms,
                "allowed_endpoints": allowed_endpoints,
                "limits": limits,
                "ip_allowlist": ip_allowlist,
                "metadata": metadata,
                **fields,
            }
        )
        for k, v in list(body.items()):
            if isinstance(v, (tuple, set, frozenset)):
                body[k] = list(v)
        return cast(Key, self._client.request("PUT", f"{_API}/developer/keys/{id}", json=body))

    def regenerate(self, id: str, grace_seconds: int = 0) -> RegeneratedKey:
        """``POST /api/v1/developer/keys/{id}/regenerate``: a new secret;
        the old one keeps working for ``grace_seconds``."""
        return cast(
            RegeneratedKey,
            self._client.request(
                "POST",
                f"{_API}/developer/keys/{id}/regenerate",
                json={"grace_seconds": grace_seconds},
            ),
        )

    def delete(self, id: str) -> None:
        """``DELETE /api/v1/developer/keys/{id}``: gateways refuse it within a second."""
        self._client.request("DELETE", f"{_API}/developer/keys/{id}")

    def usage(self, id: str, days: int = 30) -> KeyUsage:
        """``GET /api/v1/developer/keys/{id}/usage?days=`` (1 to 366): totals
        and every UTC day of the window, oldest first."""
        return cast(
            KeyUsage,
            self._client.request(
                "GET", f"{_API}/developer/keys/{id}/usage", params={"days": days}
            ),
        )


class Webhooks(_Resource):
    """Webhook endpoints and their deliveries: ``/api/v1/developer/webhooks*``."""

    def list(self) -> WebhookEndpointList:
        """``GET /api/v1/developer/webhooks``: ``{"data": [ENDPOINT…]}``, newest first."""
        return cast(
            WebhookEndpointList, self._client.request("GET", f"{_API}/developer/webhooks")
        )

    def create(
        self,
        url: str,
        *,
        description: Optional[str] = None,
        event_types: Optional[Sequence[str]] = None,
        max_retries: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> CreatedWebhookEndpoint:
        """``POST /api/v1/developer/webhooks``: a new endpoint with its
        signing ``secret`` (``whsec_…``). ``event_types`` defaults to
        ``["*"]``; ``max_retries`` to 3 (at most 7). Sent with an
        ``Idempotency-Key`` (given or random)."""
        body: Dict[str, Any] = {"url": url}
        if description is not None:
            body["description"] = description
        if event_types is not None:
            body["event_types"] = list(event_types)
        if max_retries is not None:
            body["max_retries"] = max_retries
        return cast(
            CreatedWebhookEndpoint,
            self._client.request(
                "POST",
                f"{_API}/developer/webhooks",
                json=body,
                headers={"Idempotency-Key": idempotency_key or _new_idempotency_key()},
            ),
        )

    def get(self, id: str) -> WebhookEndpoint:
        """``GET /api/v1/developer/webhooks/{id}``."""
        return cast(
            WebhookEndpoint, self._client.request("GET", f"{_API}/developer/webhooks/{id}")
        )

    def update(
        self,
        id: str,
        *,
        url: Optional[str] = None,
        description: Optional[str] = None,
        event_types: Optional[Sequence[str]] = None,
        max_retries: Optional[int] = None,
        enabled: Optional[bool] = None,
    ) -> WebhookEndpoint:
        """``PUT /api/v1/developer/webhooks/{id}``: changes the fields given."""
        fields: Dict[str, Any] = {
            "url": url,
            "description": description,
            "event_types": list(event_types) if event_types is not None else None,
            "max_retries": max_retries,
            "enabled": enabled,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        return cast(
            WebhookEndpoint,
            self._client.request("PUT", f"{_API}/developer/webhooks/{id}", json=body),
        )

    def delete(self, id: str) -> None:
        """``DELETE /api/v1/developer/webhooks/{id}``: pending deliveries fail."""
        self._client.request("DELETE", f"{_API}/developer/webhooks/{id}")

    def secret(self, id: str) -> WebhookSecret:
        """``GET /api/v1/developer/webhooks/{id}/secret``: ``{"secret": "whsec_…"}``."""
        return cast(
            WebhookSecret,
            self._client.request("GET", f"{_API}/developer/webhooks/{id}/secret"),
        )

    def rotate_secret(self, id: str, grace_seconds: Optional[int] = None) -> RotatedWebhookSecret:
        """``POST /api/v1/developer/webhooks/{id}/secret/rotate``: a new
        secret; the previous one also signs for ``grace_seconds`` (server
        default when not given)."""
        body: Dict[str, Any] = {}
        if grace_seconds is not None:
            body["grace_seconds"] = grace_seconds
        return cast(
            RotatedWebhookSecret,
            self._client.request(
                "POST", f"{_API}/developer/webhooks/{id}/secret/rotate", json=body
            ),
        )

    def test(self, id: str, event_type: Optional[str] = None) -> WebhookTestResult:
        """``POST /api/v1/developer/webhooks/{id}/test``: sends an event
        (default ``webhook.test``) to this endpoint now and answers with the
        delivery and the attempt. A disabled endpoint: :class:`aihub.ConflictError`."""
        body: Dict[str, Any] = {}
        if event_type is not None:
            body["event_type"] = event_type
        return cast(
            WebhookTestResult,
            self._client.request("POST", f"{_API}/developer/webhooks/{id}/test", json=body),
        )

    def deliveries(
        self,
        id: str,
        *,
        status: Optional[str] = None,
        event_type: Optional[str] = None,
        limit: Optional[int] = None,
        starting_after: Optional[str] = None,
    ) -> DeliveryPage:
        """``GET /api/v1/developer/webhooks/{id}/deliveries``: one page
        (``limit`` 1 to 100, default 20), newest first. ``status``:
        ``pending``, ``succeeded`` or ``failed``. For all of them, use
        :meth:`iter_deliveries`."""
        return cast(
            DeliveryPage,
            self._client.request(
                "GET",
                f"{_API}/developer/webhooks/{id}/deliveries",
                params={
                    "status": status,
                    "event_type": event_type,
                    "limit": limit,
                    "starting_after": starting_after,
                },
            ),
        )

    def iter_deliveries(
        self,
        id: str,
        *,
        status: Optional[str] = None,
        event_type: Optional[str] = None,
        page_size: int = 100,
        starting_after: Optional[str] = None,
    ) -> Iterator[WebhookDelivery]:
        """Every delivery of the endpoint, newest first, page after page."""
        return _paginate(
            lambda cursor: self.deliveries(
                id,
                status=status,
                event_type=event_type,
                limit=page_size,
                starting_after=cursor,
            ),
            starting_after,
        )

    def delivery(self, delivery_id: str) -> WebhookDeliveryWithAttempts:
        """``GET /api/v1/developer/webhook-deliveries/{id}``: the delivery
        with its attempts (here ``attempts`` is the list, oldest first)."""
        return cast(
            WebhookDeliveryWithAttempts,
            self._client.request("GET", f"{_API}/developer/webhook-deliveries/{delivery_id}"),
        )

    def recover(self, id: str, since_ms: int) -> RecoverResult:
        """``POST /api/v1/developer/webhooks/{id}/recover``: sends again the
        endpoint's failed deliveries since ``since_ms``."""
        return cast(
            RecoverResult,
            self._client.request(
                "POST",
                f"{_API}/developer/webhooks/{id}/recover",
                json={"since_ms": since_ms},
            ),
        )


class Events(_Resource):
    """The developer's events: ``/api/v1/developer/events*``."""

    def types(self) -> List[EventType]:
        """``GET /api/v1/developer/event-types``: the catalog."""
        answer = self._client.request("GET", f"{_API}/developer/event-types")
        return cast(List[EventType], answer["data"])

    def list(
        self,
        *,
        type: Union[str, Sequence[str], None] = None,
        since_ms: Optional[int] = None,
        until_ms: Optional[int] = None,
        limit: Optional[int] = None,
        starting_after: Optional[str] = None,
    ) -> EventPage:
        """``GET /api/v1/developer/events``: one page (``limit`` 1 to 100,
        default 20), newest first. ``type``: one type or several."""
        types = type if type is None or isinstance(type, str) else ",".join(type)
        return cast(
            EventPage,
            self._client.request(
                "GET",
                f"{_API}/developer/events",
                params={
                    "type": types,
                    "since_ms": since_ms,
                    "until_ms": until_ms,
                    "limit": limit,
                    "starting_after": starting_after,
                },
            ),
        )

    def iter(
        self,
        *,
        type: Union[str, Sequence[str], None] = None,
        since_ms: Optional[int] = None,
        until_ms: Optional[int] = None,
        page_size: int = 100,
        starting_after: Optional[str] = None,
    ) -> Iterator[Event]:
        """Every matching event, newest first, page after page."""
        return _paginate(
            lambda cursor: self.list(
                type=type,
                since_ms=since_ms,
                until_ms=until_ms,
                limit=page_size,
                starting_after=cursor,
            ),
            starting_after,
        )

    def get(self, id: str) -> Event:
        """``GET /api/v1/developer/events/{id}``."""
        return cast(Event, self._client.request("GET", f"{_API}/developer/events/{id}"))

    def replay(self, id: str, endpoint_id: Optional[str] = None) -> ReplayResult:
        """``POST /api/v1/developer/events/{id}/replay``: new deliveries of
        the event, to one endpoint or to every enabled subscribed one."""
        body: Dict[str, Any] = {}
        if endpoint_id is not None:
            body["endpoint_id"] = endpoint_id
        return cast(
            ReplayResult,
            self._client.request("POST", f"{_API}/developer/events/{id}/replay", json=body),
        )
