"""The TypedDicts in aihub.types name exactly the fields the API sends."""

from __future__ import annotations

from typing import Any, Mapping

import aihub
from aihub import types

from conftest import WebhookReceiver


def fields(td: Any) -> set:
    return set(td.__required_keys__)


def same(answer: Mapping[str, Any], td: Any) -> None:
    assert set(answer) == fields(td), f"{td.__name__}: {sorted(set(answer) ^ fields(td))}"


def test_shapes(client: aihub.Client, receiver: WebhookReceiver) -> None:
    assert client.developer is not None
    same(client.developer, types.Profile)
    same(client.refresh(), types.Session)
    same(client.profile(), types.Profile)

    created = client.keys.create("shapes")
    same(created, types.CreatedKey)
    same(created["limits"], types.KeyLimits)
    listing = client.keys.list()
    same(listing, types.KeyList)
    same(listing["account_limits"], types.AccountLimits)
    same(listing["data"][0], types.Key)
    same(client.keys.update(created["id"], name="shapes 2"), types.Key)
    usage = client.keys.usage(created["id"], days=1)
    same(usage, types.KeyUsage)
    same(usage["totals"], types.UsageTotals)
    same(usage["by_day"][0], types.DayUsage)
    same(client.keys.regenerate(created["id"]), types.RegeneratedKey)

    endpoint = client.webhooks.create(receiver.url)
    same(endpoint, types.CreatedWebhookEndpoint)
    same(client.webhooks.get(endpoint["id"]), types.WebhookEndpoint)
    same(client.webhooks.list(), types.WebhookEndpointList)
    same(client.webhooks.secret(endpoint["id"]), types.WebhookSecret)
    same(client.webhooks.rotate_secret(endpoint["id"]), types.RotatedWebhookSecret)
    result = client.webhooks.test(endpoint["id"])
    same(result, types.WebhookTestResult)
    same(result["delivery"], types.WebhookDelivery)
    same(result["attempt"], types.WebhookAttempt)
    detail = client.webhooks.delivery(result["delivery"]["id"])
    same(detail, types.WebhookDeliveryWithAttempts)
    page = client.webhooks.deliveries(endpoint["id"])
    same(page, types.DeliveryPage)
    same(client.webhooks.recover(endpoint["id"], since_ms=0), types.RecoverResult)

    events = client.events.list(limit=5)
    same(events, types.EventPage)
    same(events["data"][0], types.Event)
    same(client.events.get(events["data"][0]["id"]), types.Event)
    same(client.events.types()[0], types.EventType)
    same(client.events.replay(result["delivery"]["event_id"], endpoint_id=endpoint["id"]), types.ReplayResult)

    client.webhooks.delete(endpoint["id"])
    client.keys.delete(created["id"])
