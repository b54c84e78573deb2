"""A local stand-in for Twilio's Messages API that records every request.

It speaks the real API: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields (To, Body,
From or MessagingServiceSid), HTTP basic auth (the account SID and auth token; 401 otherwise), and answers
201 with the message resource as JSON (``sid`` SM + 32 hex digits); ``GET`` on the same path lists the
messages it accepted, filtered by To and From, as ``{"messages": [...]}``. Modes: ``ok``; ``429`` (with
Retry-After); ``500``; ``timeout`` (accepts the message, then answers only after ``hang_seconds``: the
client gives up although the text went out); ``delay_seconds`` slows every answer down, after the message
is recorded (a client that dies while it waits has sent it).
``fail(mode, times)`` fails the next N sends that way and then answers ok again.

It runs in a thread of the test process (ThreadingHTTPServer), so worker processes can reach it too.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "standin-auth-token"
FROM = "+15005550006"


@dataclass(frozen=True)
class Received:
    """One POST as it arrived."""

    at: float
    to: str
    body: str
    sender: str
    accepted_sid: str | None  # the SID it answered (or was about to answer) with; None if refused


@dataclass
class TwilioStandIn:
    base_url: str = ""
    mode: str = "ok"  # ok, 429, 500, timeout
    remaining: int | None = None  # with a failure mode: how many more sends fail (None: all of them)
    retry_after: str = "0"
    hang_seconds: float = 5.0
    delay_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    answering: int = 0  # sends received and not answered yet
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.accepted_sid is not None]

    def env(self) -> dict[str, str]:
        """The settings that point waitline at this stand-in."""
        return {
            "WAITLINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "WAITLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "WAITLINE_TWILIO_FROM": FROM,
            "WAITLINE_TWILIO_API_URL": self.base_url,
        }

    def _failing(self) -> str | None:
        with self.lock:
            if self.mode == "ok":
                return None
            if self.remaining is None:
                return self.mode
            if self.remaining > 0:
                self.remaining -= 1
                return self.mode
            return None

    def fail(self, mode: str, times: int | None = None) -> None:
        """Answer with ``mode``: the next ``times`` sends, or every one until ``recover``."""
        with self.lock:
            self.mode = mode
            self.remaining = times

    def recover(self) -> None:
        with self.lock:
            self.mode = "ok"
            self.remaining = None


def _resource(sid: str, to: str, sender: str, body: str, at: float) -> dict[str, object]:
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "from": sender,
        "body": body,
        "status": "queued",
        "date_created": email.utils.format_datetime(datetime.fromtimestamp(at, UTC)),
        "date_sent": email.utils.format_datetime(datetime.fromtimestamp(at, UTC)),
    }


def _handler(standin: TwilioStandIn) -> type[BaseHTTPRequestHandler]:
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (a timeout) or died
                self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != expected_auth:
                self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return False
            return True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != path:
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            if not self._authorised():
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            messages = [
                _resource(r.accepted_sid, r.to, r.sender, r.body, r.at)
                for r in reversed(standin.accepted)  # newest first, as Twilio lists them
                if r.accepted_sid is not None
                and r.to == query.get("To", r.to)
                and r.sender == query.get("From", r.sender)
            ]
            self._answer(200, {"messages": messages, "page": 0, "page_size": len(messages)})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/_control":  # the bench's remote control (a stand-in's own path)
                if form.get("mode", "ok") == "ok":
                    standin.recover()
                else:
                    standin.hang_seconds = float(form.get("hang", standin.hang_seconds))
                    standin.fail(form["mode"])
                self._answer(200, {"accepted": len(standin.accepted)})
                return
            if urlsplit(self.path).path != path:
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            if not self._authorised():
                return
            if self.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
                self._answer(400, {"code": 21100, "message": "Not form-encoded", "status": 400})
                return
            to, body = form.get("To"), form.get("Body")
            sender = form.get("From") or form.get("MessagingServiceSid")
            if not to or not body or not sender:
                self._answer(
                    400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400}
                )
                return
            failing = standin._failing()
            now = time.time()
            sid = None if failing in ("429", "500") else "SM" + uuid.uuid4().hex
            with standin.lock:
                standin.received.append(Received(now, to, body, sender, sid))
                standin.answering += 1
            try:
                self._settle(standin, failing, sid, to, sender, body, now)
            finally:
                with standin.lock:
                    standin.answering -= 1

        def _settle(
            self,
            standin: TwilioStandIn,
            failing: str | None,
            sid: str | None,
            to: str,
            sender: str,
            body: str,
            now: float,
        ) -> None:
            if standin.delay_seconds:
                time.sleep(standin.delay_seconds)  # recorded (sent) first, answered late
            if failing == "429":
                self._answer(
                    429,
                    {"code": 20429, "message": "Too Many Requests", "status": 429},
                    {"Retry-After": standin.retry_after},
                )
            elif failing == "500":
                self._answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
            else:
                if failing == "timeout":
                    time.sleep(standin.hang_seconds)
                assert sid is not None
                self._answer(201, _resource(sid, to, sender, body, now))

    return Handler


@contextmanager
def twilio_standin() -> Iterator[TwilioStandIn]:
    standin = TwilioStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    # A stand-in in a process of its own (bench/notify.py): prints its URL, serves until killed.
    import sys

    with twilio_standin() as running:
        print(running.base_url, flush=True)
        sys.stdin.read()
