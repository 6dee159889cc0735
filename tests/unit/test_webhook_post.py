"""WebhookPoster against loopback receivers: what arrives, what comes back, when it retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.notify.webhook_post import WebhookPoster
from lemlist_export.notify.webhook_signature import SIGNATURE_HEADER, signature
from local_stack.webhook_receiver import WebhookReceiver
from local_stack.webhook_receiver import signature_is_valid as is_valid

SIGNING_SECRET = "whsec-test-0123456789abcdef"
HOOK_PATH = "/services/T0000/B0000/secret-hook-path"
BODY = json.dumps({"event": "export.done", "exportId": "axp_Vv6lJOc8NlVVmDud5"}).encode()


class RecordingSleep:
    """Remembers the waits instead of sleeping them (the poster's own waits are a second)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver(signing_secret=SIGNING_SECRET).start()
    yield started
    started.stop()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


NOW = 1_764_547_200  # 2025-12-01T00:00:00Z


@pytest.fixture
def poster(sleep: RecordingSleep) -> WebhookPoster:
    return WebhookPoster(timeout=1.0, sleep=sleep, urls=LOCAL_URLS)


# -- success, body and signature -----------------------------------------------------------


def test_a_200_is_ok_and_the_receiver_gets_the_exact_body_and_headers(receiver, poster, sleep):
    result = poster.post(
        receiver.url(HOOK_PATH), BODY, {"X-Event": "export.done"}, signing_secret=SIGNING_SECRET
    )

    assert result.ok
    assert "200" in result.detail
    [post] = receiver.posts
    assert post.path == HOOK_PATH
    assert post.body == BODY
    assert post.headers["content-type"] == "application/json"
    assert post.headers[SIGNATURE_HEADER.lower()].startswith("t=")
    assert post.headers["x-event"] == "export.done"
    assert post.signature_valid is True
    assert sleep.calls == []


def test_without_a_secret_nothing_is_signed(receiver, poster):
    assert poster.post(receiver.url(HOOK_PATH), BODY).ok

    [post] = receiver.posts
    assert SIGNATURE_HEADER.lower() not in post.headers
    assert post.signature_valid is None


def test_the_signature_is_the_hmac_of_timestamp_dot_body_with_the_timestamp_in_the_header():
    expected = hmac.new(SIGNING_SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256)

    assert signature(BODY, SIGNING_SECRET, NOW) == f"t={NOW},v1={expected.hexdigest()}"


def test_a_signature_checks_out_within_the_tolerance_and_only_then():
    header = signature(BODY, SIGNING_SECRET, NOW)

    assert is_valid(header, BODY, SIGNING_SECRET, now=NOW)
    assert is_valid(header, BODY, SIGNING_SECRET, now=NOW + 300)
    assert is_valid(header, BODY, SIGNING_SECRET, now=NOW - 300)
    # A recorded post replayed later, or stamped in the future, is refused.
    assert not is_valid(header, BODY, SIGNING_SECRET, now=NOW + 301)
    assert not is_valid(header, BODY, SIGNING_SECRET, now=NOW - 301)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b, s: (h, b + b" ", s),  # another body
        lambda h, b, s: (h, b, s + "x"),  # another secret
        lambda h, b, s: (h.replace(f"t={NOW}", f"t={NOW + 1}"), b, s),  # the time moved
        lambda h, b, s: (h.split(",")[1], b, s),  # no timestamp
        lambda h, b, s: (h.split(",")[0], b, s),  # no signature
        lambda h, b, s: ("", b, s),
        lambda h, b, s: (None, b, s),
        # Malformed values a careless parser would crash on, never accept.
        lambda h, b, s: (f"t=\u00b2,{h.split(',')[1]}", b, s),  # a digit to isdigit, not int
        lambda h, b, s: ("t=" + "9" * 5000 + "," + h.split(",")[1], b, s),
        lambda h, b, s: (f"t={NOW},v1=\u00e9" + h.split("=")[-1][1:], b, s),
        lambda h, b, s: (h.upper(), b, s),
    ],
)
def test_a_tampered_or_malformed_signature_is_refused(tamper):
    header, body, secret = tamper(signature(BODY, SIGNING_SECRET, NOW), BODY, SIGNING_SECRET)

    assert not is_valid(header, body, secret, now=NOW)


def test_the_old_body_only_signature_is_not_accepted():
    old = "sha256=" + hmac.new(SIGNING_SECRET.encode(), BODY, hashlib.sha256).hexdigest()

    assert not is_valid(old, BODY, SIGNING_SECRET, now=NOW)


def test_a_long_error_answer_is_read_only_as_far_as_its_detail_needs(scripted, poster):
    target = serve(scripted, *[Scripted(400, body=b"x" * 2_000_000)] * 2)

    result = poster.post(target.url, BODY)

    assert not result.ok
    assert result.detail.startswith("answered 400: xxx")
    assert len(result.detail) < 300


def test_a_retried_post_is_signed_again_at_its_own_time(scripted, sleep):
    clock = iter([NOW, NOW + 7])
    target = serve(scripted, Scripted(503, body=b"busy"))
    poster = WebhookPoster(sleep=sleep, clock=lambda: next(clock), urls=LOCAL_URLS)

    assert poster.post(target.url, BODY, signing_secret=SIGNING_SECRET).ok

    stamps = [h[SIGNATURE_HEADER.lower()].split(",")[0] for h in target.headers]
    assert stamps == [f"t={NOW}", f"t={NOW + 7}"]


# -- failures ------------------------------------------------------------------------------


def test_a_404_is_not_ok_names_the_status_and_reason_but_not_the_url(receiver, poster, sleep):
    receiver.fail_next(HOOK_PATH, 404, "channel_not_found")
    url = receiver.url(HOOK_PATH)

    result = poster.post(url, BODY)

    assert not result.ok
    assert "404" in result.detail
    assert "channel_not_found" in result.detail
    assert url not in result.detail
    assert "secret-hook-path" not in result.detail
    assert "127.0.0.1" not in result.detail
    assert len(receiver.posts) == 1
    assert sleep.calls == []


def test_a_500_is_retried_once_and_the_retry_succeeds(receiver, poster, sleep):
    receiver.fail_next(HOOK_PATH, 500, "internal error")

    result = poster.post(receiver.url(HOOK_PATH), BODY)

    assert result.ok
    assert [post.body for post in receiver.posts] == [BODY, BODY]
    assert sleep.calls == [1.0]


def test_two_500s_give_up_after_the_second_attempt(receiver, poster, sleep):
    receiver.fail_next(HOOK_PATH, 503, "maintenance", times=3)

    result = poster.post(receiver.url(HOOK_PATH), BODY)

    assert not result.ok
    assert "503" in result.detail
    assert len(receiver.posts) == 2


def test_a_429_without_retry_after_is_not_retried(receiver, poster, sleep):
    # WebhookReceiver.fail_next sets only status and body, so this 429 has no Retry-After.
    receiver.fail_next(HOOK_PATH, 429, "rate_limited")

    result = poster.post(receiver.url(HOOK_PATH), BODY)

    assert not result.ok
    assert "429" in result.detail
    assert len(receiver.posts) == 1
    assert sleep.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/services/T0000/B0000/x",
        "https://attacker.example\\.hooks.slack.com/services/T0000/B0000/x",
        "https://user:pw@hooks.slack.com/services/T0000/B0000/x",
        "https://hooks.slack.com/services/T0000/B0000/x y",
    ],
)
def test_a_url_the_judge_refuses_gets_no_request_and_no_path_in_the_detail(poster, sleep, url):
    result = poster.post(url, BODY)

    assert not result.ok
    assert result.detail.startswith("not sent: The URL was refused")
    assert "T0000" not in result.detail
    assert sleep.calls == []


def test_deployed_a_loopback_target_is_refused_without_a_request(receiver, sleep):
    result = WebhookPoster(sleep=sleep).post(receiver.url(HOOK_PATH), BODY)

    assert not result.ok
    assert "this machine" in result.detail
    assert receiver.posts == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_is_not_ok_and_never_raises(poster, sleep):
    result = poster.post(f"http://127.0.0.1:{closed_port()}/hook", BODY)

    assert not result.ok
    assert result.detail == "could not connect"
    assert sleep.calls == [1.0]


# -- a scripted target, for what WebhookReceiver cannot send (Retry-After, slow answers) ---


@dataclass(frozen=True)
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedTarget

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.next_answer(body, headers)
        time.sleep(answer.delay)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        return None


class ScriptedTarget(ThreadingHTTPServer):
    """Answers POSTs from a script (then 200), recording the bodies it got."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, *answers: Scripted) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._answers = list(answers)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def handle_error(self, request: object, client_address: object) -> None:
        # A slow answer's client has given up by the time it is written: expected here,
        # and socketserver would print the broken pipe in whichever test runs next.
        return None

    def next_answer(self, body: bytes, headers: dict[str, str]) -> Scripted:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return self._answers.pop(0) if self._answers else Scripted(200, body=b"ok")


@pytest.fixture
def scripted() -> Iterator[list[ScriptedTarget]]:
    targets: list[ScriptedTarget] = []
    yield targets
    for target in targets:
        target.shutdown()
        target.server_close()


def serve(targets: list[ScriptedTarget], *answers: Scripted) -> ScriptedTarget:
    target = ScriptedTarget(*answers)
    threading.Thread(target=target.serve_forever, kwargs={"poll_interval": 0.02}).start()
    targets.append(target)
    return target


def test_a_429_with_a_short_retry_after_waits_that_long_then_succeeds(scripted, poster, sleep):
    target = serve(scripted, Scripted(429, {"Retry-After": "2"}, b"slow down"))

    result = poster.post(target.url, BODY)

    assert result.ok
    assert target.bodies == [BODY, BODY]
    assert sleep.calls == [2.0]


def test_a_429_with_a_retry_after_beyond_the_limit_is_not_retried(scripted, poster, sleep):
    target = serve(scripted, Scripted(429, {"Retry-After": "120"}, b"slow down"))

    result = poster.post(target.url, BODY)

    assert not result.ok
    assert "429" in result.detail
    assert target.bodies == [BODY]
    assert sleep.calls == []


def test_a_target_slower_than_the_timeout_times_out_and_never_raises(scripted, sleep):
    slow = Scripted(200, body=b"ok", delay=0.6)
    target = serve(scripted, slow, slow)

    result = WebhookPoster(timeout=0.2, sleep=sleep, urls=LOCAL_URLS).post(target.url, BODY)

    assert not result.ok
    assert result.detail == "timed out"
    assert sleep.calls == [1.0]


def test_a_redirect_is_not_followed(scripted, poster, sleep):
    elsewhere = serve(scripted)
    target = serve(scripted, Scripted(302, {"Location": elsewhere.url}))

    result = poster.post(target.url, BODY)

    assert not result.ok
    assert "302" in result.detail
    assert elsewhere.bodies == []
