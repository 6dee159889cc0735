"""Properties of Slack's request signing check (`slack.signature`), over generated requests.

Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with the app's signing secret
(HMAC-SHA256, hex, sent as `X-Slack-Signature: v0=<hex>`) and asks receivers to refuse
timestamps more than 300 s from now. The check must accept exactly that, and refuse
everything else with SlackSignatureError (the handler's 401), never with another exception
(a 500 that tells a prober where parsing broke), and with a sentence that says why without
echoing what was sent.

The oracle for "what Slack signed" is computed here from hmac and hashlib, and checked once
against slack_sdk's own SignatureVerifier. The comparison is constant-time by reading
(`hmac.compare_digest` over the whole `v0=<hex>`); the property below shows it is also the
only thing that decides, without any timing measurement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
import types
from collections.abc import Callable
from typing import Any
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from lemlist_export.core.errors import ConfigurationError
from lemlist_export.slack import signature as signature_module
from lemlist_export.slack.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SlackSignatureError,
    slack_signature,
    verify_slack_request,
)
from lemlist_export.wiring import secrets

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)
WINDOW = 300

# Every refusal is one of these sentences: only the numbers vary, nothing that was sent.
REFUSALS = [
    re.compile(rf"The {TIMESTAMP_HEADER} header is missing"),
    re.compile(rf"The {SIGNATURE_HEADER} header is missing"),
    re.compile(rf"The {TIMESTAMP_HEADER} header is not a Unix time in seconds"),
    re.compile(r"The request timestamp is [0-9]+ s (old|in the future)"
               r" \(at most [0-9]+ s either way\)"),
    re.compile(rf"The {SIGNATURE_HEADER} header is not a v0 signature"),
    re.compile(rf"The {SIGNATURE_HEADER} header does not match the body"),
]  # fmt: skip

# Signing secrets: Slack's are 32 hex digits; any other non-empty text works the same way.
signing_secrets = st.one_of(
    st.binary(min_size=16, max_size=16).map(bytes.hex),
    st.text(min_size=1, max_size=20),
)
bodies = st.one_of(
    st.binary(max_size=64),
    st.just(b"command=%2Flemlist-export&text=cam_A1B2C3D4E5F6G7H8I9&team_id=T0001"),
)
# Receiving clocks: seconds since the epoch, with a fraction (time.time() has one).
clocks = st.floats(min_value=1e9, max_value=4e9, allow_nan=False)
windows = st.one_of(st.just(WINDOW), st.integers(0, 86_400))


def signed(secret: str, body: bytes, timestamp: str) -> str:
    """What Slack sends: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def refusal(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    window: int = WINDOW,
) -> str | None:
    """Why the check refuses the request (its message), or None if it accepts it."""
    try:
        verify_slack_request(secret, body, timestamp, signature, now=now, max_age_seconds=window)
    except SlackSignatureError as exc:
        message = str(exc)
        assert any(r.fullmatch(message) for r in REFUSALS), message
        return message
    return None


@st.composite
def signed_requests(draw: st.DrawFn) -> tuple[str, bytes, str, float, int]:
    """A request Slack signed: secret, body, timestamp within the window of `now`, window."""
    now = draw(clocks)
    window = draw(windows)
    if math.ceil(now - window) > math.floor(now + window):
        now = float(math.floor(now))  # a 0 s window: only the current whole second is in it
    stamp = draw(st.integers(math.ceil(now - window), math.floor(now + window)))
    return draw(signing_secrets), draw(bodies), str(stamp), now, window


@st.composite
def stale_stamps(draw: st.DrawFn, now: float, window: int) -> int:
    """A timestamp more than `window` seconds away from `now`, either way."""
    if draw(st.booleans()):
        return draw(st.integers(0, math.ceil(now - window) - 1))
    return draw(st.integers(math.floor(now + window) + 1, 10**12 - 1))


# -- accepted: what Slack signed -------------------------------------------------------------------


@PROPERTY
@given(request=signed_requests())
def test_what_slack_signed_within_the_window_is_accepted(
    request: tuple[str, bytes, str, float, int],
) -> None:
    """Any secret, any body bytes, any timestamp within the window (its edges included):
    the signature Slack computes is ours, and it is accepted."""
    secret, body, stamp, now, window = request
    signature = signed(secret, body, stamp)

    assert slack_signature(secret, body, stamp) == signature
    assert refusal(secret, body, stamp, signature, now, window) is None


@settings(PROPERTY, max_examples=50)
@given(
    secret=signing_secrets,
    body=st.text(max_size=100).map(str.encode),
    stamp=st.integers(10**9, 4 * 10**9).map(str),
)
def test_our_signature_is_slack_sdks(secret: str, body: bytes, stamp: str) -> None:
    """The oracle above is Slack's own: slack_sdk computes the same signature (over UTF-8
    bodies: it decodes them first, where ours signs any bytes as sent)."""
    sdk = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)

    assert slack_signature(secret, body, stamp) == signed(secret, body, stamp) == sdk


# -- refused: one thing changed --------------------------------------------------------------------


@settings(PROPERTY, max_examples=150)
@given(request=signed_requests(), data=st.data())
def test_a_body_changed_anywhere_is_refused(
    request: tuple[str, bytes, str, float, int], data: st.DataObject
) -> None:
    """One byte of the body changed, added or removed: the signature no longer matches."""
    secret, body, stamp, now, window = request
    signature = signed(secret, body, stamp)
    how = data.draw(st.sampled_from(["flip", "add", "drop"] if body else ["add"]))
    at = data.draw(st.integers(0, len(body) - (0 if how == "add" else 1)))
    if how == "flip":
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]))
        changed = body[:at] + bytes([byte]) + body[at + 1 :]
    elif how == "add":
        changed = body[:at] + bytes([data.draw(st.integers(0, 255))]) + body[at:]
    else:
        changed = body[:at] + body[at + 1 :]

    assert refusal(secret, changed, stamp, signature, now, window) == (
        f"The {SIGNATURE_HEADER} header does not match the body"
    )


@settings(PROPERTY, max_examples=150)
@given(request=signed_requests(), data=st.data())
@example(request=("s" * 32, b"", "1764000000", 1_764_000_000.0, 300), data=None)
def test_a_timestamp_changed_anywhere_is_refused(
    request: tuple[str, bytes, str, float, int], data: st.DataObject | None
) -> None:
    """One character of the timestamp changed (to a digit, a sign, a space, any character):
    the request is refused, as not a Unix time, as out of the window, or, still in the
    window, because the signature covers the timestamp as sent."""
    secret, body, stamp, now, window = request
    signature = signed(secret, body, stamp)
    if data is None:  # a leading zero: the same instant, another text
        changed = "0" + stamp
    else:
        at = data.draw(st.integers(0, len(stamp) - 1))
        char = data.draw(
            st.one_of(st.sampled_from("0123456789+- .\n\u0661"), st.characters()).filter(
                lambda c: c != stamp[at]
            )
        )
        changed = stamp[:at] + char + stamp[at + 1 :]

    why = refusal(secret, body, changed, signature, now, window)

    if not re.fullmatch(r"[0-9]{1,12}", changed):
        assert why == f"The {TIMESTAMP_HEADER} header is not a Unix time in seconds"
    elif abs(now - int(changed)) > window:
        assert why is not None and why.startswith("The request timestamp is ")
    else:
        assert why == f"The {SIGNATURE_HEADER} header does not match the body"


@PROPERTY
@given(request=signed_requests(), data=st.data())
@example(request=("s" * 32, b"", "1764000000", 1_764_000_000.0, 300), data=None)
def test_a_signature_changed_anywhere_is_refused(
    request: tuple[str, bytes, str, float, int], data: st.DataObject | None
) -> None:
    """One character of `v0=<hex>` replaced by any other character (upper-case hex, a
    non-ASCII letter, a lone surrogate as a JSON event can carry), or the signature cut or
    extended: refused, as another version when the `v0=` prefix changed, else as no match."""
    secret, body, stamp, now, window = request
    signature = signed(secret, body, stamp)
    if data is None:  # what the Lambda runtime builds from "v0=\ud800..." in a JSON event
        changed = "v0=\ud800" + signature[4:]
    elif data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(signature) - 1))
        char = data.draw(
            st.one_of(
                st.sampled_from("0123456789abcdefABCDEF=V \u00e9\ud800"), st.characters()
            ).filter(lambda c: c != signature[at])
        )
        changed = signature[:at] + char + signature[at + 1 :]
    else:
        cut = data.draw(st.integers(1, len(signature) - 1))
        changed = data.draw(
            st.sampled_from(
                [signature[:cut], signature + signature[cut:], signature + "0", signature + " "]
            )
        )

    why = refusal(secret, body, stamp, changed, now, window)

    if changed.startswith("v0="):
        assert why == f"The {SIGNATURE_HEADER} header does not match the body"
    else:
        assert why == f"The {SIGNATURE_HEADER} header is not a v0 signature"


@settings(PROPERTY, max_examples=100)
@given(request=signed_requests(), data=st.data())
def test_another_secret_is_refused(
    request: tuple[str, bytes, str, float, int], data: st.DataObject
) -> None:
    """Signed with any other secret (one character off included): no match."""
    secret, body, stamp, now, window = request
    one_off = secret[:-1] + chr(ord(secret[-1]) ^ 1)
    other = data.draw(st.one_of(st.just(one_off), signing_secrets.filter(lambda s: s != secret)))

    assert refusal(secret, body, stamp, signed(other, body, stamp), now, window) == (
        f"The {SIGNATURE_HEADER} header does not match the body"
    )


# -- refused: the timestamp ------------------------------------------------------------------------


@settings(PROPERTY, max_examples=150)
@given(request=signed_requests(), data=st.data())
def test_a_timestamp_outside_the_window_is_refused_whatever_the_signature(
    request: tuple[str, bytes, str, float, int], data: st.DataObject
) -> None:
    """More than the window away from now, either way (a replay, or a clock far off): refused
    with the age and the limit, even when the signature over it is Slack's."""
    secret, body, _, now, window = request
    stamp = str(data.draw(stale_stamps(now, window)))
    signature = data.draw(st.one_of(st.just(signed(secret, body, stamp)), st.text(min_size=1)))
    age = now - int(stamp)

    assert refusal(secret, body, stamp, signature, now, window) == (
        f"The request timestamp is {abs(age):.0f} s {'old' if age > 0 else 'in the future'} "
        f"(at most {window} s either way)"
    )


def _not_unix_seconds(stamp: str) -> bool:
    return re.fullmatch(r"[0-9]{1,12}", stamp) is None


# Ways a Unix time in seconds is written wrong (int() reads some of them).
_ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
_FULL_WIDTH = str.maketrans(
    "0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"
)
SPOILERS: list[Callable[[str], str]] = [
    lambda t: f" {t}",
    lambda t: f"{t} ",
    lambda t: f"{t}\n",
    lambda t: f"\t{t}",
    lambda t: f"-{t}",
    lambda t: f"+{t}",
    lambda t: f"{t}.0",
    lambda t: f"{t}e0",
    lambda t: f"{int(t):010d}000",  # milliseconds: 13 digits
    lambda t: "9" * 13,
    lambda t: t.translate(_ARABIC_INDIC),
    lambda t: t.translate(_FULL_WIDTH),
    lambda t: f"{t[:5]}_{t[5:]}",
    lambda t: "0x" + format(int(t), "x"),
]


@settings(PROPERTY, max_examples=150)
@given(
    request=signed_requests(),
    spoil=st.sampled_from(SPOILERS),
    anything=st.text(min_size=1).filter(_not_unix_seconds),
    use_anything=st.booleans(),
)
def test_a_timestamp_that_is_not_unix_seconds_is_refused_even_when_signed(
    request: tuple[str, bytes, str, float, int],
    spoil: Callable[[str], str],
    anything: str,
    use_anything: bool,
) -> None:
    """Whitespace around it, a sign, a fraction, milliseconds, non-ASCII digits that int()
    would read, any other text: refused as not a Unix time, though the signature was
    computed over exactly that text."""
    secret, body, stamp, now, window = request
    spoiled = anything if use_anything else spoil(stamp)
    try:
        signature = signed(secret, body, spoiled)
    except UnicodeEncodeError:  # a lone surrogate: nobody can sign it
        signature = signed(secret, body, stamp)

    assert refusal(secret, body, spoiled, signature, now, window) == (
        f"The {TIMESTAMP_HEADER} header is not a Unix time in seconds"
    )


# -- refused: missing headers, any header values ---------------------------------------------------


@settings(PROPERTY, max_examples=50)
@given(
    request=signed_requests(),
    stamp=st.sampled_from([None, ""]),
    signature=st.one_of(st.none(), st.text()),
)
def test_a_missing_timestamp_is_refused_first(
    request: tuple[str, bytes, str, float, int], stamp: str | None, signature: str | None
) -> None:
    """No timestamp header (absent or empty): refused as such, whatever else was sent."""
    secret, body, _, now, window = request

    assert refusal(secret, body, stamp, signature, now, window) == (
        f"The {TIMESTAMP_HEADER} header is missing"
    )


@settings(PROPERTY, max_examples=50)
@given(request=signed_requests(), signature=st.sampled_from([None, ""]))
def test_a_missing_signature_is_refused(
    request: tuple[str, bytes, str, float, int], signature: str | None
) -> None:
    """No signature header (absent or empty) with a good timestamp: refused as such."""
    secret, body, stamp, now, window = request

    assert refusal(secret, body, stamp, signature, now, window) == (
        f"The {SIGNATURE_HEADER} header is missing"
    )


@settings(PROPERTY, max_examples=250)
@given(
    request=signed_requests(),
    stamp=st.one_of(st.none(), st.text(max_size=14), st.integers(0, 10**13).map(str)),
    signature=st.one_of(
        st.none(),
        st.text(max_size=70),
        st.text(alphabet="0123456789abcdef", max_size=70).map("v0=".__add__),
    ),
    keep=st.sampled_from(["timestamp", "signature", "neither"]),
)
@example(
    request=("s" * 32, b"", "1764000000", 1_764_000_000.0, 300),
    stamp=None,
    signature="v0=\udcff",
    keep="timestamp",
)
def test_any_header_values_are_accepted_only_when_slack_signed_them(
    request: tuple[str, bytes, str, float, int],
    stamp: str | None,
    signature: str | None,
    keep: str,
) -> None:
    """Any timestamp and signature header values (or none), next to a real request's: the
    check accepts exactly when the timestamp is Unix seconds within the window and the
    signature is Slack's over it; anything else is a SlackSignatureError (one of the fixed
    sentences), never another exception."""
    secret, body, real_stamp, now, window = request
    if keep == "timestamp":
        stamp = real_stamp
    elif keep == "signature":
        signature = signed(secret, body, real_stamp)

    why = refusal(secret, body, stamp, signature, now, window)

    acceptable = (
        stamp is not None
        and not _not_unix_seconds(stamp)
        and abs(now - int(stamp)) <= window
        and signature == signed(secret, body, stamp)
    )
    assert (why is None) is acceptable


@settings(PROPERTY, max_examples=50)
@given(request=signed_requests(), wrong=st.booleans())
def test_no_message_echoes_what_was_sent(
    request: tuple[str, bytes, str, float, int], wrong: bool
) -> None:
    """A refusal says why, never with the secret, the body or the signature in it (every
    refusal is one of the fixed sentences of REFUSALS, checked in `refusal`)."""
    secret, body, stamp, now, window = request
    signature = signed(secret + "x", body, stamp) if wrong else "v1=" + signed(secret, body, stamp)

    why = refusal(secret, body, stamp, signature, now, window)

    assert why is not None
    assert signature not in why and signature[3:] not in why


@settings(PROPERTY, max_examples=50)
@given(request=signed_requests(), stamp=st.one_of(st.none(), st.text()), signature=st.text())
def test_an_empty_secret_is_a_configuration_error_whatever_was_sent(
    request: tuple[str, bytes, str, float, int], stamp: str | None, signature: str
) -> None:
    """Anyone can compute an HMAC with an empty key: never accepted, never a 401 either, but
    the deployment's fault (ConfigurationError), even with the empty key's own signature."""
    _, body, real_stamp, now, _ = request
    for sent_stamp, sent in (
        (stamp, signature),
        (real_stamp, slack_signature("", body, real_stamp)),
    ):
        try:
            verify_slack_request("", body, sent_stamp, sent, now=now)
        except ConfigurationError as exc:
            assert str(exc) == "The Slack signing secret is empty"
        else:
            raise AssertionError("accepted with an empty secret")


# -- the comparison --------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=100)
@given(request=signed_requests(), tampered=st.booleans(), verdict=st.booleans())
def test_the_verdict_is_hmac_compare_digests_alone(
    request: tuple[str, bytes, str, float, int], tampered: bool, verdict: bool
) -> None:
    """Once the headers are well formed, `hmac.compare_digest` (constant-time) is called
    once, on the expected and the sent `v0=<hex>` as bytes, and its answer is the verdict:
    told True it accepts a wrong signature, told False it refuses the right one, so no other
    comparison (an early `==`) decides."""
    secret, body, stamp, now, window = request
    sent = signed(secret + "x", body, stamp) if tampered else signed(secret, body, stamp)

    with mock.patch.object(signature_module.hmac, "compare_digest", return_value=verdict) as spy:
        why = refusal(secret, body, stamp, sent, now, window)

    spy.assert_called_once_with(signed(secret, body, stamp).encode(), sent.encode())
    assert (why is None) is verdict


# -- through the handler: header names in any case -------------------------------------------------


def _handler() -> Any:
    from functions.slack_command import app  # imported late: it builds Powertools objects

    return app


_CONTEXT = types.SimpleNamespace(
    function_name="SlackCommandFunction",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:SlackCommandFunction",
    aws_request_id="property-test",
)
_HELP = b"command=%2Flemlist-export&text=help&user_id=U1&team_id=T1"


def _any_case(name: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)
        )
    )


@settings(PROPERTY, max_examples=30)
@given(
    secret=st.binary(min_size=16, max_size=16).map(bytes.hex),
    timestamp_name=_any_case(TIMESTAMP_HEADER),
    signature_name=_any_case(SIGNATURE_HEADER),
    base64_body=st.booleans(),
    tampered=st.booleans(),
)
def test_header_names_in_any_case_reach_the_check(
    secret: str, timestamp_name: str, signature_name: str, base64_body: bool, tampered: bool
) -> None:
    """HTTP header names are case-insensitive (API Gateway lower-cases them, a proxy or a
    test may not): the handler finds both headers in any case, so a signed request is
    answered 200 and a tampered one 401 with the check's reason."""
    stamp = str(int(time.time()))
    signature = signed(secret + ("x" if tampered else ""), _HELP, stamp)
    event = {
        "headers": {timestamp_name: stamp, signature_name: signature, "Content-Type": "x"},
        "body": base64.b64encode(_HELP).decode() if base64_body else _HELP.decode(),
        "isBase64Encoded": base64_body,
    }

    with mock.patch.object(secrets, "slack_signing_secret", return_value=secret):
        answer = _handler().lambda_handler(event, _CONTEXT)

    if tampered:
        assert answer["statusCode"] == 401
        assert f"The {SIGNATURE_HEADER} header does not match the body" in answer["body"]
    else:
        assert answer["statusCode"] == 200
        assert "/lemlist-export" in answer["body"]
