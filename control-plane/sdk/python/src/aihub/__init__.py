"""Python SDK for AI Hub: the management API (login, API keys, webhooks,
events), webhook signature verification, and the official OpenAI client
configured for the gateway."""

from . import types, webhooks
from ._client import DEFAULT_TIMEOUT, NOT_GIVEN, Client, Events, Keys, Webhooks, openai_client
from ._errors import (
    AIHubError,
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    WebhookVerificationError,
)
from ._version import __version__

__all__ = [
    "Client",
    "Keys",
    "Webhooks",
    "Events",
    "openai_client",
    "NOT_GIVEN",
    "DEFAULT_TIMEOUT",
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
    "types",
    "webhooks",
    "__version__",
]
