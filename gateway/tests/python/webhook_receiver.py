"""A webhook receiver for the end-to-end tests: verifies every delivery with
the `standardwebhooks` package (PyPI) and the business plan's
X-AIHub-Signature, and appends one JSON line per request to a log.

    webhook_receiver.py PORT SECRET_FILE LOG_FILE [FAIL_FIRST]

SECRET_FILE holds the endpoint's `whsec_…` secret (read on every request,
so the test can write it after creating the endpoint). The first FAIL_FIRST
requests are answered 500 (after being verified and logged), the rest 204.
"""

import base64
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

PORT, SECRET_FILE, LOG_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
FAIL_FIRST = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with open(SECRET_FILE) as f:
            secret = f.read().strip()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            Webhook(secret).verify(body, headers)
            verified = True
        except Exception as e:  # noqa: BLE001 - the test reads the reason
            verified = str(e) or type(e).__name__
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        plan_ok = hmac.compare_digest(expected, headers.get("x-aihub-signature", ""))
        with lock:
            seen += 1
            fail = seen <= FAIL_FIRST
            line = {
                "webhook_id": headers.get("webhook-id"),
                "event": headers.get("x-aihub-event"),
                "user_agent": headers.get("user-agent"),
                "verified": verified,
                "aihub_signature_ok": plan_ok,
                "answered": 500 if fail else 204,
                "body": json.loads(body),
            }
            with open(LOG_FILE, "a") as f:
                f.write(json.dumps(line) + "\n")
        self.send_response(500 if fail else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
