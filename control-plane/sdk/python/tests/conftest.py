"""Starts a real AI Hub for the SDK's tests, once per session, the way
control-plane/portal/browser/harness.mjs does for the browser tests:

- ``aihub-stub-upstream``, a stand-in OpenAI-compatible provider;
- ``aihub serve`` on a temporary SQLite database (email in "log" mode, its
  .eml files in a temporary outbox; webhooks allowed to loopback receivers);
- ``aihub admin add-provider`` / ``add-model`` (gpt-4o-mini, gpt-4o on the stub);
- ``aihub-gateway`` in front of it: the SDK's base URL is the gateway's, which
  answers ``/v1/...`` itself and forwards ``/api/...`` to the control plane;
- a developer made with ``aihub admin create-developer --password``, whose
  address is then verified through the API (resend-verification, the link
  from the outbox, verify-email).

Binaries: ``AIHUB_BIN`` (default ``$CARGO_TARGET_DIR/debug/aihub``, with
``CARGO_TARGET_DIR`` defaulting to ``/root/.cache/aihub/target``), and
``aihub-gateway`` / ``aihub-stub-upstream`` next to it (or
``AIHUB_GATEWAY_BIN`` / ``AIHUB_STUB_UPSTREAM_BIN``).

Nothing waits by sleeping alone: every wait polls a condition until a deadline.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

import httpx
import pytest

# Always the SDK of this checkout, even when another copy is installed in
# the environment (CI shares one venv between checkouts).
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
import aihub  # noqa: E402

T = TypeVar("T")

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/root/.cache/aihub/target"))
AIHUB_BIN = Path(os.environ.get("AIHUB_BIN", str(TARGET / "debug" / "aihub")))
GATEWAY_BIN = Path(os.environ.get("AIHUB_GATEWAY_BIN", str(AIHUB_BIN.parent / "aihub-gateway")))
STUB_UPSTREAM_BIN = Path(
    os.environ.get("AIHUB_STUB_UPSTREAM_BIN", str(AIHUB_BIN.parent / "aihub-stub-upstream"))
)

INTERNAL_SECRET = "sdk-tests-internal-secret-0123456789abcdef"
TOKEN_SECRET = "sdk-tests-token-secret-0123456789abcdef012"
MODELS = ["gpt-4o-mini", "gpt-4o"]
PASSWORD = "correct-horse-42"

_given_ports: set = set()


def free_port() -> int:
    """A port that could be bound on 127.0.0.1 a moment ago, below the
    kernel's ephemeral range (so an outgoing connection does not take it
    first), never handed out twice in this process."""
    for _ in range(2000):
        port = random.randint(20000, 32767)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Optional[T]], timeout: float = 30.0) -> T:
    """Polls ``check`` until it returns something truthy (exceptions count
    as "not yet"), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}" + (f": {last!r}" if last else ""))


class Proc:
    """A child process whose output goes to a log file, kept for failures."""

    def __init__(self, name: str, args: List[str], log_dir: Path, **kwargs: Any) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n{text[-6000:]}"

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log.close()


def can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Received:
    path: str
    headers: Dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server in the test process recording every request (answers 200)."""

    def __init__(self) -> None:
        self.requests: List[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                answer = b'{"received": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/aihub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class System:
    tmp: Path
    control_plane_url: str
    gateway_url: str
    database_url: str
    outbox: Path
    procs: List[Proc] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """What SDK users pass: the gateway (management API forwarded)."""
        return self.gateway_url

    def logs(self) -> str:
        return "\n".join(p.describe() for p in self.procs)

    def admin(self, *args: str) -> Any:
        """``aihub --json admin ...`` on this system's database; its JSON."""
        env = dict(os.environ)
        env.update(
            AIHUB_DATABASE__URL=self.database_url,
            AIHUB_INTERNAL__SHARED_SECRET=INTERNAL_SECRET,
            AIHUB_AUTH__TOKEN_SECRET=TOKEN_SECRET,
            AIHUB_LOG__LEVEL="warn",
        )
        done = subprocess.run(
            [str(AIHUB_BIN), "--json", "admin", *args],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"aihub admin {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return json.loads(done.stdout)

    def new_developer(self, tag: str, *, password: str = PASSWORD) -> str:
        """A new (unverified) developer with a password; returns the email."""
        address = f"{tag}-{uuid.uuid4().hex[:10]}@example.com"
        self.admin("create-developer", "--email", address, "--name", f"SDK {tag}", "--password", password)
        return address

    def verification_token(self, address: str, timeout: float = 30.0) -> str:
        """The token of the newest verify-email link mailed to ``address``
        (email.mode = "log": .eml files in the outbox)."""

        def find() -> Optional[str]:
            if not self.outbox.is_dir():
                return None
            for path in sorted(self.outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address.lower() not in str(message.get("to", "")).lower():
                    continue
                texts = []
                for part in message.walk():
                    if part.get_content_maintype() == "text":
                        texts.append(part.get_content())
                match = re.search(r"verify-email\?token=([A-Za-z0-9_\-.~%]+)", "\n".join(texts))
                if match:
                    return match.group(1)
            return None

        return wait_for(f"the verification mail to {address}", find, timeout)

    def verified_developer(self, tag: str) -> str:
        """A developer with a verified address (the real flow: the link from the mail)."""
        address = self.new_developer(tag)
        anonymous = aihub.Client(self.base_url)
        try:
            anonymous.resend_verification(address)
            anonymous.verify_email(self.verification_token(address))
        finally:
            anonymous.close()
        return address

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def _start_system(tmp: Path) -> System:
    for binary in (AIHUB_BIN, GATEWAY_BIN, STUB_UPSTREAM_BIN):
        if not binary.exists():
            raise RuntimeError(
                f"{binary} not found: build it (cargo build -p aihub-control-plane -p aihub-gateway "
                "-p aihub-testkit --bins) or set AIHUB_BIN"
            )
    logs = tmp / "logs"
    logs.mkdir()
    cp_port = free_port()
    gw_port = free_port()
    ops_port = free_port()
    stub_port = free_port()
    database_url = f"sqlite://{tmp / 'aihub.db'}?mode=rwc"
    system = System(
        tmp=tmp,
        control_plane_url=f"http://127.0.0.1:{cp_port}",
        gateway_url=f"http://127.0.0.1:{gw_port}",
        database_url=database_url,
        outbox=tmp / "outbox",
    )
    try:
        stub = Proc(
            "aihub-stub-upstream",
            [str(STUB_UPSTREAM_BIN), "--listen", f"127.0.0.1:{stub_port}"],
            logs,
        )
        system.procs.append(stub)

        env = dict(os.environ)
        env.update(
            AIHUB_DATABASE__URL=database_url,
            AIHUB_INTERNAL__SHARED_SECRET=INTERNAL_SECRET,
            AIHUB_AUTH__TOKEN_SECRET=TOKEN_SECRET,
            # A throw-away account gets locked after 3 bad passwords (the
            # RateLimitError test); the address (127.0.0.1) practically never.
            AIHUB_AUTH__MAX_FAILURES_PER_ACCOUNT="3",
            AIHUB_AUTH__MAX_FAILURES_PER_IP="10000",
            AIHUB_EMAIL__MODE="log",
            AIHUB_EMAIL__OUTBOX_DIR=str(system.outbox),
            AIHUB_PUBLIC__PORTAL_URL=system.gateway_url,
            AIHUB_SERVER__LISTEN=f"127.0.0.1:{cp_port}",
            AIHUB_LOG__LEVEL=os.environ.get("AIHUB_LOG__LEVEL", "warn"),
            AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS="true",
            AIHUB_WEBHOOKS__RETRY_DELAYS_MS="[300,300,300]",
            AIHUB_BATCHES__GATEWAY_URL=system.gateway_url,
        )
        serve = Proc("aihub-serve", [str(AIHUB_BIN), "serve"], logs, cwd=tmp, env=env)
        system.procs.append(serve)

        def stub_up() -> bool:
            if not stub.alive():
                raise RuntimeError("aihub-stub-upstream exited")
            return can_connect(stub_port)

        wait_for("the stand-in provider", stub_up, 30)

        def serve_ready() -> bool:
            if not serve.alive():
                raise RuntimeError("aihub serve exited")
            return http_ok(f"{system.control_plane_url}/readyz")

        wait_for("aihub serve /readyz", serve_ready, 60)

        system.admin(
            "add-provider", "--name", "stub", "--kind", "openai",
            "--base-url", f"http://127.0.0.1:{stub_port}/v1", "--api-key", "stub-provider-key",
        )
        system.admin("add-model", "--name", "gpt-4o-mini", "--provider", "stub", "--upstream-model", "stub-mini")
        system.admin("add-model", "--name", "gpt-4o", "--provider", "stub", "--upstream-model", "stub-large")

        gw_env = dict(os.environ)
        gw_env.update(
            AIHUB_GW_SERVER__LISTEN=f"127.0.0.1:{gw_port}",
            AIHUB_GW_SERVER__OPS_LISTEN=f"127.0.0.1:{ops_port}",
            AIHUB_GW_SERVER__SHUTDOWN_GRACE_SECS="1",
            AIHUB_GW_SERVER__INSTANCE_ID="sdk-tests",
            AIHUB_GW_CONTROL_PLANE__URL=system.control_plane_url,
            AIHUB_GW_CONTROL_PLANE__SHARED_SECRET=INTERNAL_SECRET,
            AIHUB_GW_CONTROL_PLANE__STATE_DIR=str(tmp / "gateway-state"),
            AIHUB_GW_SPOOL__DIR=str(tmp / "gateway-spool"),
            AIHUB_GW_LOG__LEVEL=os.environ.get("AIHUB_GW_LOG__LEVEL", "warn"),
        )
        gateway = Proc("aihub-gateway", [str(GATEWAY_BIN)], logs, cwd=tmp, env=gw_env)
        system.procs.append(gateway)

        def gateway_ready() -> bool:
            if not gateway.alive():
                raise RuntimeError("aihub-gateway exited")
            return http_ok(f"http://127.0.0.1:{ops_port}/readyz")

        wait_for("aihub-gateway /readyz", gateway_ready, 60)
        # The management API through the gateway (forwarded to the control plane).
        wait_for(
            "the management API through the gateway",
            lambda: httpx.get(f"{system.gateway_url}/api/v1/auth/config", timeout=2).status_code == 200,
            30,
        )
        return system
    except BaseException:
        logs_text = system.logs()
        system.stop()
        raise RuntimeError(f"could not start AI Hub:\n{logs_text}")


@pytest.fixture(scope="session")
def system() -> Iterator[System]:
    tmp = Path(tempfile.mkdtemp(prefix="aihub-sdk-tests-"))
    started = _start_system(tmp)
    try:
        yield started
    finally:
        started.stop()
        if os.environ.get("AIHUB_SDK_KEEP_TMP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def developer(system: System) -> str:
    """The email of a verified developer (password ``PASSWORD``)."""
    return system.verified_developer("sdk")


@pytest.fixture()
def client(system: System, developer: str) -> Iterator[aihub.Client]:
    """A logged-in SDK client of the verified developer (its own session)."""
    c = aihub.Client(system.base_url, timeout=30)
    c.login(developer, PASSWORD)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    try:
        yield r
    finally:
        r.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """On a failure, show the system's logs."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.failed and "system" in getattr(item, "fixturenames", ()):
        sys_ = item.funcargs.get("system") if hasattr(item, "funcargs") else None
        if sys_ is not None:
            report.sections.append(("AI Hub logs", sys_.logs()))


# Examples the documentation runner (test_docs_examples.py) did not run, with
# the pages' reasons; listed at the end of the session.
DOC_EXAMPLE_SKIPS: List[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if DOC_EXAMPLE_SKIPS:
        terminalreporter.section("documentation examples not run")
        for line in DOC_EXAMPLE_SKIPS:
            terminalreporter.write_line(f"skipped {line}")


@contextlib.contextmanager
def own_system(prefix: str = "aihub-own-system-") -> Iterator[System]:
    """A system of its own, set up like the session's ``system`` fixture
    (stand-in provider, models, gateway), stopped and removed on exit. For
    tests that need a fresh installation, e.g. documents whose examples
    create fixed accounts such as ``dev@example.com``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        started = _start_system(tmp)
        try:
            yield started
        finally:
            started.stop()
    finally:
        if os.environ.get("AIHUB_SDK_KEEP_TMP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
