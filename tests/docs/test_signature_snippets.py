"""The signature checks the docs give receivers, run as written against posts the stack signed.

docs/security.md's `verify_signature` and docs/zapier.md's Code by Zapier step are read from the
Markdown and executed: if the stack's signing and the docs drift apart, this fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.notify.webhook_post import WebhookPoster
from local_stack.webhook_receiver import ReceivedPost, WebhookReceiver
from tests.docs.markdown_blocks import blocks
from tests.docs.shell_session import ROOT

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECRET = "whsec-docs-0123456789abcdef"
OTHER_SECRET = "cbsec-docs-fedcba9876543210"
BODY = b'{"event": "export.delivered", "exportId": "axp_Vv6lJOc8NlVVmDud5", "bytes": 45133}'
HEADER = "x-lemlist-export-signature"


def python_block(doc: str, containing: str) -> str:
    """The fenced Python block of docs/`doc` that contains `containing`, dedented."""
    text = (DOCS / doc).read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        if containing in block:
            return textwrap.dedent(block)
    raise AssertionError(f"docs/{doc} has no Python block with {containing!r}")


@pytest.fixture
def signed_post() -> Iterator[ReceivedPost]:
    """A post exactly as the stack sends it: its poster, its signing, over real HTTP."""
    receiver = WebhookReceiver().start()
    try:
        poster = WebhookPoster(urls=LOCAL_URLS)
        assert poster.post(receiver.url("/hook"), BODY, signing_secret=SECRET).ok
        (post,) = receiver.posts
        yield post
    finally:
        receiver.stop()


@pytest.fixture
def verify_signature() -> Callable[..., bool]:
    namespace: dict[str, Any] = {}
    exec(python_block("security.md", "def verify_signature"), namespace)  # noqa: S102
    return namespace["verify_signature"]


def test_security_md_accepts_a_post_the_stack_signed(signed_post, verify_signature):
    assert signed_post.body == BODY
    assert verify_signature(signed_post.headers[HEADER], signed_post.body, SECRET) is True


def test_security_md_refuses_what_is_not_that_post(signed_post, verify_signature):
    header, body = signed_post.headers[HEADER], signed_post.body
    stamp = int(header.split(",")[0].removeprefix("t="))

    assert not verify_signature(header, body + b" ", SECRET)
    assert not verify_signature(header, body, OTHER_SECRET)
    assert not verify_signature(header, body, SECRET, now=stamp + 301)  # replayed later
    assert verify_signature(header, body, SECRET, now=stamp + 299)
    assert not verify_signature(header.split(",")[1], body, SECRET)
    assert not verify_signature("", body, SECRET)
    old = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert not verify_signature(old, body, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        "t=\u00b2,v1=" + "0" * 64,
        "t=" + "9" * 5000 + ",v1=" + "0" * 64,
        "t=1,v1=\u00e9",
        "t=,v1=",
        "=",
    ],
)
def test_security_md_refuses_malformed_headers_without_crashing(verify_signature, header):
    assert verify_signature(header, BODY, SECRET) is False


def run_zap_code(raw_body: str, signature: str | None, secret: str = SECRET) -> dict[str, Any]:
    namespace: dict[str, Any] = {
        "input_data": {"raw_body": raw_body, "signature": signature, "secret": secret}
    }
    exec(python_block("zapier.md", 'input_data["secret"]'), namespace)  # noqa: S102
    return namespace["output"]


def test_the_zapier_code_step_passes_the_fields_of_a_signed_post(signed_post):
    output = run_zap_code(signed_post.body.decode(), signed_post.headers[HEADER])

    assert output == {
        "valid": True,
        "event": "export.delivered",
        "exportId": "axp_Vv6lJOc8NlVVmDud5",
        "bytes": 45133,
    }


def test_the_zapier_code_step_refuses_tampered_replayed_and_unsigned_posts(signed_post):
    body, header = signed_post.body.decode(), signed_post.headers[HEADER]
    stale = int(time.time()) - 600
    replayed = (
        f"t={stale},v1="
        + hmac.new(SECRET.encode(), f"{stale}.{body}".encode(), hashlib.sha256).hexdigest()
    )

    assert run_zap_code(body.replace("45133", "1"), header) == {"valid": False}
    assert run_zap_code(body, header, OTHER_SECRET) == {"valid": False}
    assert run_zap_code(body, replayed) == {"valid": False}
    assert run_zap_code(body, None) == {"valid": False}
    assert run_zap_code(body, "t=\u00b2,v1=" + "0" * 64) == {"valid": False}
    assert run_zap_code(body, "t=1,v1=\u00e9") == {"valid": False}


def test_the_readmes_webhook_example_has_every_field_of_the_payload() -> None:
    from lemlist_export.notify.announcement import Announcement
    from lemlist_export.records.record import ExportRecord

    shown = json.loads(
        next(
            "\n".join(block.lines)
            for block in blocks(ROOT / "README.md")
            if block.language == "json" and '"eventId"' in "\n".join(block.lines)
        )
    )
    record = ExportRecord(
        export_id="axp_Vv6lJOc8NlVVmDud5",
        campaign_id="cam_A1B2C3D4E5F6G7H8I9",
        status="delivered",
        created_at="2026-11-29T10:00:00.000Z",
        updated_at="2026-11-29T10:00:20.000Z",
        expires_at=1_800_000_000,
    )
    sent = Announcement.of(record).webhook_payload("2026-11-29T10:00:21.000Z")

    assert list(shown) == list(sent)
