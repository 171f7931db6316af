"""Exceptions raised by the SDK."""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

import httpx

__all__ = [
    "AIHubError",
    "APIError",
    "APIConnectionError",
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "InternalServerError",
    "WebhookVerificationError",
]


class AIHubError(Exception):
    """Base class of every exception this SDK raises on purpose."""


class APIConnectionError(AIHubError):
    """The request never got an answer (refused connection, timeout, ...)."""


class APIError(AIHubError):
    """A non-2xx answer of the API.

    ``status`` is the HTTP status, ``code`` and ``message`` come from the
    body ``{"error": {"code", "message"}}`` (``code`` is ``None`` when the
    body was not in that shape, and ``message`` is then the raw text).
    """

    status: int
    code: Optional[str]
    message: str
    body: Any
    headers: httpx.Headers

    def __init__(
        self,
        status: int,
        code: Optional[str],
        message: str,
        *,
        body: Any = None,
        headers: Optional[httpx.Headers] = None,
    ) -> None:
        super().__init__(f"{status} {code or 'error'}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.headers = headers if headers is not None else httpx.Headers()

    @property
    def request_id(self) -> Optional[str]:
        """The ``x-request-id`` header of the answer, when there is one."""
        value: Optional[str] = self.headers.get("x-request-id")
        return value


class InvalidRequestError(APIError):
    """400 or 422: the request was refused as invalid."""


class AuthenticationError(APIError):
    """401: missing, invalid or expired credentials."""


class PermissionDeniedError(APIError):
    """403: authenticated, but not allowed (e.g. ``email_not_verified``)."""


class NotFoundError(APIError):
    """404: no such object (or not yours)."""


class ConflictError(APIError):
    """409: e.g. ``idempotency_conflict`` or a disabled webhook endpoint."""


class RateLimitError(APIError):
    """429: too many requests or attempts; see :attr:`retry_after`."""

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait, from the ``retry-after`` header, when given."""
        raw = self.headers.get("retry-after")
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            return None


class InternalServerError(APIError):
    """5xx: the server failed."""


class WebhookVerificationError(AIHubError):
    """A webhook delivery failed verification (signature, timestamp, headers)."""


_BY_STATUS: Dict[int, Type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for a non-2xx ``response``."""
    status = response.status_code
    body: Any = None
    code: Optional[str] = None
    message = response.text or response.reason_phrase or f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIError
    return cls(status, code, message, body=body, headers=response.headers)
