"""Runs the README's Python examples, in order, in one namespace, against
the fixture system (as a user would run them as one script)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import PASSWORD, System, WebhookReceiver, wait_for

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> List[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(python_blocks()) >= 8


def test_readme_examples_run(
    system: System,
    developer: str,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIHUB_URL", system.base_url)
    monkeypatch.setenv("AIHUB_EMAIL", developer)
    monkeypatch.setenv("AIHUB_PASSWORD", PASSWORD)
    monkeypatch.setenv("AIHUB_WEBHOOK_URL", receiver.url)
    namespace: Dict[str, Any] = {"__name__": "readme"}
    for i, block in enumerate(python_blocks()):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as e:  # pragma: no cover - reported with the block
            pytest.fail(f"README python block {i + 1} failed: {e!r}\n{block}")
    out = capsys.readouterr().out
    assert developer in out
    assert "404 not_found" in out
    assert "days: expected 1 to 366, got 0" in out

    # The receiver example accepts the real test delivery and refuses a tampered one.
    handle = namespace["handle_delivery"]
    secret = namespace["webhook_secret"]
    sent = wait_for(
        "the README's test delivery",
        lambda: [r for r in receiver.requests if r.headers.get("x-aihub-event") == "webhook.test"],
    )
    assert handle(sent[0].body, sent[0].headers, secret) == 204
    assert handle(sent[0].body.replace(b"test", b"tost"), sent[0].headers, secret) == 400
