"""The OpenAI helper: chat completions through the gateway to the stand-in provider."""

from __future__ import annotations

import pytest

import aihub

from conftest import MODELS, System

openai = pytest.importorskip("openai")


def test_chat_completion_and_stream(system: System, client: aihub.Client) -> None:
    key = client.keys.create("openai-helper")
    client.wait_for_key(key["secret"])
    ai = client.openai(key["secret"], max_retries=0, timeout=30)
    assert isinstance(ai, openai.OpenAI)
    assert str(ai.base_url).rstrip("/") == system.base_url + "/v1"

    reply = ai.chat.completions.create(
        model=MODELS[0], messages=[{"role": "user", "content": "Say hello to the SDK tests"}]
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.total_tokens > 0

    chunks = list(
        ai.chat.completions.create(
            model=MODELS[0],
            messages=[{"role": "user", "content": "Stream a hello"}],
            stream=True,
        )
    )
    assert chunks
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text

    # Module-level helper, same configuration.
    other = aihub.openai_client(system.base_url, key["secret"], max_retries=0)
    assert other.models.list().data

    # A deleted key is refused by the gateway (within about a second).
    client.keys.delete(key["id"])
    from conftest import wait_for

    def refused() -> bool:
        try:
            ai.models.list()
        except openai.AuthenticationError:
            return True
        return False

    wait_for("the deleted key to be refused", refused, 10)
