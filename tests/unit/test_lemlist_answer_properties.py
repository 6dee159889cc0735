"""Properties of the readers of lemlist's answers, over generated answers.

lemlist's answers are read in a few places: the client's JSON decoding, then
`ExportStatus.from_answer` (the start answer, bare, and the status answer, wrapped in
`{"ok", "status"}`), `campaign_page` (/campaigns, a bare array or `{campaigns, pagination}`),
and for errors `error_text`, `parse_retry_after` and the 404 readers of `lemlist.answers`.
Whatever lemlist (or a proxy in front of it) answers, the only failure that may leave them
is a `LemlistError` subclass that the state machine's Retry and Catch clauses name: a
KeyError or a ValueError would be an unnamed Lambda error, and a status check's protocol
error is retried where an unnamed one fails the export.

Well-formed answers are generated from lemlist's documented schema
(`reference/lemlist-openapi-subset.json`): any key order, optional fields missing, unknown
fields added, any status lemlist may add one day; what is read back must be what was
generated. Mutated and arbitrary answers are checked against the readers' policy, written
out below as small tables (`_count`, `_text`, `_status_by_policy`, `_page_by_policy`).
No request leaves the machine: the client's requests are answered by a fake PoolManager.
"""

from __future__ import annotations

import io
import json
import math
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import urllib3
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lemlist_export.core.errors import (
    CampaignNotFoundError,
    DownloadUnavailableError,
    ExportExpiredError,
    LemlistAuthError,
    LemlistBadTeamError,
    LemlistError,
    LemlistProtocolError,
    LemlistRequestError,
    LemlistTransientError,
    RateLimitedError,
    UnsafeUrlError,
)
from lemlist_export.core.redaction import MASK, register_secret
from lemlist_export.core.url_judge import UrlJudge
from lemlist_export.lemlist.answers import (
    campaign_not_found,
    campaign_page,
    download_not_found,
    error_text,
    generic_not_found,
    parse_retry_after,
    status_not_found,
)
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.status import MAX_NAME_LENGTH, PENDING, ExportStatus

API = "https://api.lemlist.com/api"
API_ORIGIN = UrlJudge().judge(API).origin
KEY = "answer-property-key-0123456789"
CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
EXPORT = "axp_Vv6lJOc8NlVVmDud5"
PAGE_SIZE = 3
NOW = datetime(2025, 10, 27, 7, 53, 16, tzinfo=UTC)

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

# Answers that once escaped the readers as ValueError and RecursionError: valid JSON that
# Python's json refuses to build (a number over the 4300-digit limit, nesting deeper than
# the recursion limit). A proxy or a broken lemlist can send either.
HUGE_NUMBER = b'{"ok": true, "status": {"id": "axp_1", "status": "done", "fileSize": 1%s}}' % (
    b"0" * 5000
)
DEEP_NESTING = b'{"message": ' + b"[" * 5000 + b"]" * 5000 + b"}"
HUGE_MESSAGE = b'{"ok": false, "message": "Bad team", "code": 1%s}' % (b"0" * 5000)

KNOWN_STATUSES = ("pending", "done", "error")
DOCUMENTED_FIELDS = (
    "_id",
    "id",
    "teamId",
    "campaignId",
    "campaignName",
    "status",
    "startedAt",
    "endedAt",
    "progressIndex",
    "progressTime",
    "progressLastStepDuration",
    "progressType",
    "progress",
    "total",
    "fileSize",
    "url",
)
_LEMLIST_ID = re.compile(r"[A-Za-z0-9_]{1,64}")

# -- strategies ----------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
ids = st.text(alphabet=_ALNUM + "_", min_size=1, max_size=64)
export_ids = st.one_of(st.text(alphabet=_ALNUM, min_size=17, max_size=17).map("axp_".__add__), ids)
# 2015 to 2035, in milliseconds, written as lemlist writes dates.
iso_times = st.integers(1_420_070_400_000, 2_051_222_400_000).map(
    lambda ms: (
        datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )
)
counts = st.integers(0, 10**13)
download_urls = ids.map(lambda name: f"https://api.lemlist.com/api/files/exports/fil_{name}.csv")

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


# What lemlist's schema allows anywhere, and what Python's json also reads (NaN, Infinity).
json_values = _nested(_scalars)
loose_json = _nested(st.one_of(_scalars, st.sampled_from([math.nan, math.inf, -math.inf])))
# Almost the right type: counts as strings, signs, spaces, non-ASCII digits, bools, floats.
near_misses = st.sampled_from(
    [
        "", "50", "-5", "+5", "5.0", " 5", "5 ", "5\n", "\u0665", "\u00b2", "\uff15", "0x10",
        "1e3", "1" * 18, "1" * 19, "0" * 18, True, False, 0, -1, 1.5, 2.0, -0.0, 1e300,
        math.inf, math.nan, 10**30, [], {}, [1], {"value": 1}, "pending ", "Pending", "axp 1",
        "axp-1", "a" * 65, "\u00e9t\u00e9",
    ]
)  # fmt: skip
junk = st.one_of(near_misses, loose_json)


_OPTIONAL_STATUS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "teamId": ids,
    "campaignId": st.just(CAMPAIGN),
    # Names around the 256-character cut are built by repetition: cheaper than drawn.
    "campaignName": st.one_of(
        st.text(max_size=20),
        st.builds(
            lambda part, times: part * times, st.text(min_size=1, max_size=4), st.integers(50, 130)
        ),
    ),
    "startedAt": iso_times,
    "endedAt": iso_times,
    "progressIndex": counts,
    "progressTime": counts,
    "progressLastStepDuration": counts,
    "progressType": st.one_of(
        st.sampled_from(["starting", "processing", "done"]), st.text(max_size=10)
    ),
    "progress": counts,
    "total": counts,
    "fileSize": counts,
    "url": download_urls,
}
_UNKNOWN_FIELDS = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in DOCUMENTED_FIELDS),
    st.one_of(_scalars, st.lists(_scalars, max_size=2)),
    max_size=2,
)


@st.composite
def status_answers(
    draw: st.DrawFn, statuses: st.SearchStrategy[str] | None = None
) -> dict[str, Any]:
    """An export status as lemlist documents it (inside the status answer's wrapper, or as
    the start answer): `id` and/or `_id`, any status, optional fields, unknown extras."""
    status = statuses or st.one_of(st.sampled_from(KNOWN_STATUSES), ids)
    fields = draw(st.fixed_dictionaries({"status": status}, optional=_OPTIONAL_STATUS_FIELDS))
    export_id = draw(export_ids)
    for name in draw(st.sampled_from([("id",), ("_id",), ("id", "_id")])):
        fields[name] = export_id
    fields.update(draw(_UNKNOWN_FIELDS))
    return {name: fields[name] for name in draw(st.permutations(list(fields)))}


# A campaign as /campaigns lists it (the Campaign schema), with unknown extras.
campaigns = st.builds(
    lambda documented, extra: {**extra, **documented},
    st.fixed_dictionaries(
        {
            "_id": ids.map(lambda s: ("cam_" + s)[:64]),
            "name": st.text(max_size=20),
            "status": st.sampled_from(
                ["running", "paused", "draft", "ended", "archived", "errors"]
            ),
        },
        optional={
            "labels": st.lists(st.text(max_size=5), max_size=2),
            "createdAt": iso_times,
            "createdBy": ids,
            "hasError": st.booleans(),
            "errors": st.lists(st.text(max_size=10), max_size=2),
        },
    ),
    st.dictionaries(st.text(max_size=8), _scalars, max_size=1),
)


# -- the readers' policy, as tables ----------------------------------------------------------


def _text(value: Any) -> str | None:
    """A text field: a non-empty string, else nothing."""
    return value if isinstance(value, str) and value != "" else None


def _count(value: Any) -> int | None:
    """A count: an int that is not a bool, an integral float, or 1 to 18 ASCII digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value == int(value) else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    return None


def _status_by_policy(body: Any, campaign_id: str) -> ExportStatus | str:
    """What `from_answer` must make of `body`: the status, or the words of its refusal."""
    if isinstance(body, dict) and isinstance(body.get("status"), dict):
        body = body["status"]
    if not isinstance(body, dict):
        return "not an object"
    # `id` when lemlist gives one, else `_id`; a malformed id is not replaced by the other.
    export_id = body.get("id") or body.get("_id")
    if not isinstance(export_id, str) or export_id == "":
        return "without an id"
    if not _LEMLIST_ID.fullmatch(export_id):
        return "not letters, digits and underscores"
    status = body.get("status")
    # Any id-shaped status is kept as lemlist said it: the state machine's Choice decides.
    if not isinstance(status, str) or not _LEMLIST_ID.fullmatch(status):
        return f"export {export_id} without a status"
    if body.get("campaignId") not in (None, campaign_id):
        return f"another campaign than {campaign_id} for export {export_id}"
    return ExportStatus(
        export_id=export_id,
        campaign_id=campaign_id,
        campaign_name=(_text(body.get("campaignName")) or "")[:MAX_NAME_LENGTH],
        status=status,
        started_at=_text(body.get("startedAt")),
        ended_at=_text(body.get("endedAt")),
        progress=_count(body.get("progress")),
        total=_count(body.get("total")),
        progress_type=_text(body.get("progressType")),
        file_size=_count(body.get("fileSize")),
        url=_text(body.get("url")),
        raw={k: v for k, v in body.items() if k != "url"},
    )


def _page_by_policy(body: Any, page_size: int) -> tuple[list[Any], bool] | None:
    """The campaigns on a page and whether to ask for the next, or None for no known shape.
    The objects of the array are the campaigns; a bare array asks again while it is full,
    the wrapped shape while `pagination.nextPage` is set and the page was not empty."""
    if isinstance(body, list):
        return [c for c in body if isinstance(c, dict)], len(body) >= page_size
    if isinstance(body, dict) and isinstance(body.get("campaigns"), list):
        found = [c for c in body["campaigns"] if isinstance(c, dict)]
        pagination = body.get("pagination")
        next_page = pagination.get("nextPage") if isinstance(pagination, dict) else None
        return found, bool(next_page) and bool(found)
    return None


def _one_line(text: str) -> str:
    """Whitespace runs made one space, then cut to 200 characters."""
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:199] + "\u2026"


# -- ExportStatus.from_answer ---------------------------------------------------------------


@PROPERTY
@given(answer=status_answers(), wrapped=st.booleans())
def test_a_documented_status_answer_reads_back_as_generated(
    answer: dict[str, Any], wrapped: bool
) -> None:
    """Whatever the key order, missing optional fields, unknown extras and status (one of
    the three documented, or any other id-shaped word), every field reads back as sent, the
    wrapped and bare forms read alike, and the download URL is kept out of `raw`."""
    body = json.loads(json.dumps({"ok": True, "status": answer} if wrapped else answer))

    parsed = ExportStatus.from_answer(body, campaign_id=CAMPAIGN)

    assert parsed.export_id == answer.get("id", answer.get("_id"))
    assert parsed.campaign_id == CAMPAIGN
    assert parsed.campaign_name == answer.get("campaignName", "")[:MAX_NAME_LENGTH]
    assert parsed.status == answer["status"]
    assert parsed.is_pending is (answer["status"] == PENDING)
    assert parsed.started_at == answer.get("startedAt")
    assert parsed.ended_at == answer.get("endedAt")
    assert parsed.progress == answer.get("progress")
    assert parsed.total == answer.get("total")
    assert parsed.progress_type == (answer.get("progressType") or None)
    assert parsed.file_size == answer.get("fileSize")
    assert parsed.url == answer.get("url")
    assert list(parsed.raw) == [k for k in answer if k != "url"]
    assert parsed.raw == {k: v for k, v in answer.items() if k != "url"}
    assert ExportStatus.from_answer(answer, campaign_id=CAMPAIGN) == parsed


@PROPERTY
@given(
    answer=status_answers(),
    wrapped=st.booleans(),
    field=st.sampled_from(DOCUMENTED_FIELDS),
    value=junk,
    remove=st.booleans(),
)
# A count as a string is read; one that is signed, spaced, non-ASCII or over 18 digits is not.
@example(answer={"id": "axp_1", "status": "pending"}, wrapped=True, field="progress",
         value="50", remove=False)  # fmt: skip
@example(answer={"id": "axp_1", "status": "done"}, wrapped=False, field="fileSize",
         value="\u00b2", remove=False)  # fmt: skip
@example(answer={"id": "axp_1", "status": "done"}, wrapped=True, field="fileSize",
         value="1" * 19, remove=False)  # fmt: skip
@example(answer={"id": "axp_1", "status": "done"}, wrapped=True, field="total",
         value="0" * 18, remove=False)  # fmt: skip
@example(answer={"id": "axp_1", "status": "done"}, wrapped=False, field="fileSize",
         value=True, remove=False)  # fmt: skip
# A malformed `id` is refused even when `_id` is fine.
@example(answer={"id": "axp_1", "_id": "axp_1", "status": "done"}, wrapped=True, field="id",
         value="axp-1", remove=False)  # fmt: skip
@example(answer={"id": "axp_1", "status": "done", "campaignId": CAMPAIGN}, wrapped=True,
         field="campaignId", value="cam_other", remove=False)  # fmt: skip
def test_a_mutated_status_answer_is_read_or_refused_by_the_policy(
    answer: dict[str, Any], wrapped: bool, field: str, value: Any, remove: bool
) -> None:
    """One documented field removed or set to junk (another type, a number as a string, a
    null, nested values, NaN): the answer is read exactly as the policy says, or refused
    with LemlistProtocolError saying why; no other exception."""
    mutated = dict(answer)
    if remove:
        mutated.pop(field, None)
    else:
        mutated[field] = value
    body = {"ok": True, "status": mutated} if wrapped else mutated
    expected = _status_by_policy(body, CAMPAIGN)

    try:
        parsed = ExportStatus.from_answer(body, campaign_id=CAMPAIGN)
    except LemlistProtocolError as refusal:
        assert isinstance(expected, str), f"refused, the policy reads it: {refusal}"
        assert expected in str(refusal)
        assert refusal.status is None
        return
    assert parsed == expected


status_shaped = st.dictionaries(st.sampled_from(DOCUMENTED_FIELDS), junk, max_size=6)


@PROPERTY
@given(
    body=st.one_of(
        loose_json,
        near_misses,
        status_shaped,
        status_shaped.map(lambda s: {"ok": True, "status": s}),
        st.builds(lambda k, v: {"ok": k, "status": v}, loose_json, loose_json),
    ),
    campaign_id=st.one_of(st.just(CAMPAIGN), ids),
)
def test_any_json_value_is_a_status_or_a_protocol_error(body: Any, campaign_id: str) -> None:
    """Any JSON value (NaN and Infinity included, as Python's json reads them): the status
    the policy reads, or LemlistProtocolError."""
    expected = _status_by_policy(body, campaign_id)
    try:
        parsed = ExportStatus.from_answer(body, campaign_id=campaign_id)
    except LemlistProtocolError as refusal:
        assert isinstance(expected, str), f"refused, the policy reads it: {refusal}"
        assert expected in str(refusal)
        return
    assert parsed == expected
    assert _LEMLIST_ID.fullmatch(parsed.export_id) and _LEMLIST_ID.fullmatch(parsed.status)


# -- campaign_page ---------------------------------------------------------------------------


@settings(PROPERTY, max_examples=150)
@given(
    found=st.lists(campaigns, max_size=3),
    bare=st.booleans(),
    next_page=st.one_of(st.none(), st.integers(2, 50)),
    page_size=st.integers(1, 4),
    data=st.data(),
)
def test_a_documented_campaign_page_reads_back_as_generated(
    found: list[dict[str, Any]],
    bare: bool,
    next_page: int | None,
    page_size: int,
    data: st.DataObject,
) -> None:
    """Both documented shapes give the campaigns as sent, in order. A bare array asks for
    the next page while it is full; the wrapped shape while `nextPage` is set and the page
    had campaigns (an empty page never loops)."""
    if bare:
        body: Any = found
    else:
        pagination = {"totalRecords": 99, "currentPage": 1, "nextPage": next_page, "totalPage": 9}
        order = data.draw(st.permutations(["campaigns", "pagination"]))
        body = {key: {"campaigns": found, "pagination": pagination}[key] for key in order}

    page, has_next = campaign_page(json.loads(json.dumps(body)), page_size)

    assert page == found
    assert has_next is (len(found) >= page_size if bare else next_page is not None and found != [])


@settings(PROPERTY, max_examples=150)
@given(
    body=st.one_of(
        loose_json,
        near_misses,
        st.lists(st.one_of(campaigns, junk), max_size=5),
        st.fixed_dictionaries(
            {"campaigns": st.lists(st.one_of(campaigns, junk), max_size=4)},
            optional={"pagination": st.one_of(junk, st.fixed_dictionaries({"nextPage": junk}))},
        ),
    ),
    page_size=st.integers(1, 6),
)
def test_any_campaigns_answer_is_a_page_or_a_protocol_error(body: Any, page_size: int) -> None:
    """Any JSON value: the page the policy reads (the objects only, junk entries dropped),
    or LemlistProtocolError naming the route."""
    expected = _page_by_policy(body, page_size)
    try:
        page = campaign_page(body, page_size)
    except LemlistProtocolError as refusal:
        assert expected is None
        assert str(refusal) == "lemlist answered /campaigns in a shape we do not know"
        return
    assert page == expected


# -- error bodies, Retry-After, 404s --------------------------------------------------------


@settings(PROPERTY, max_examples=150)
@given(
    message=st.text(max_size=260),
    key=st.sampled_from(["message", "error"]),
    extra=st.dictionaries(st.sampled_from(["ok", "code", "status", "details"]), _scalars),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 2]),
)
def test_a_json_error_body_gives_its_message_on_one_line(
    message: str, key: str, extra: dict[str, Any], ascii_only: bool, indent: int | None
) -> None:
    """`{"ok": false, "message": ...}` (or `error`), in any layout: the message, whitespace
    runs made one space, at most 200 characters."""
    body = json.dumps({**extra, key: message}, ensure_ascii=ascii_only, indent=indent).encode()

    assert error_text(body) == _one_line(message)


@PROPERTY
@given(text=st.text(max_size=260).filter(lambda t: not t.strip().startswith("{")))
def test_a_text_error_body_gives_its_text_on_one_line(text: str) -> None:
    """`Bad team`, `Campaign not found`, an HTML page: the text itself, on one short line."""
    assert error_text(text.encode()) == _one_line(text)


@settings(PROPERTY, max_examples=150)
@example(body=HUGE_MESSAGE)
@example(body=DEEP_NESTING)
@given(
    body=st.one_of(
        st.binary(max_size=80),
        loose_json.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.sampled_from(["message", "error", "ok"]), junk).map(
            lambda d: json.dumps(d).encode()
        ),
    )
)
def test_any_error_body_gives_one_short_line(body: bytes) -> None:
    """Any bytes (invalid UTF-8, JSON whose message is not a string, JSON Python cannot
    build): one line of at most 200 characters, never an exception."""
    text = error_text(body)

    assert len(text) <= 200
    assert text == " ".join(text.split())
    try:
        stripped = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return
    parsed = _decoded(stripped) if stripped.startswith("{") else _NOT_JSON
    if isinstance(parsed, dict):
        said = parsed.get("message") or parsed.get("error")
        assert text == (_one_line(said) if isinstance(said, str) else "")


@PROPERTY
# The cut at 200 characters falls inside the key.
@example(before="X" * 185, after="", as_json=False)
@example(before="X Y " * 45, after=" Z", as_json=True)
@given(
    before=st.one_of(
        st.text(alphabet="XYZ .\n{}", max_size=230),
        st.integers(150, 230).map(lambda n: "X" * n),
    ),
    after=st.text(alphabet="XYZ .\n", max_size=30),
    as_json=st.booleans(),
)
def test_an_error_body_never_shows_the_key(before: str, after: str, as_json: bool) -> None:
    """lemlist's words may quote the API key: the key is masked before the line is cut, so
    no part of it is left, wherever the cut falls."""
    register_secret(KEY)
    said = before + KEY + after
    body = json.dumps({"message": said}) if as_json else said

    text = error_text(body.encode())

    assert KEY not in text
    assert not any(text.removesuffix("\u2026").endswith(KEY[:n]) for n in range(4, len(KEY)))
    assert text == _one_line(said.replace(KEY, MASK))


@PROPERTY
@given(
    seconds=st.integers(-(10**6), 10**9),
    padding=st.sampled_from(["", " ", "\t", " \r\n"]),
    as_date=st.booleans(),
    zone=st.sampled_from(["GMT", "-0000", "+0200"]),
)
def test_retry_after_reads_seconds_and_http_dates(
    seconds: int, padding: str, as_date: bool, zone: str
) -> None:
    """Delta-seconds, or an HTTP date: the wait from now, never negative."""
    if as_date:
        seconds = max(-(10**6), min(seconds, 10**8))  # dates stay within year 9999
        when = NOW + timedelta(seconds=seconds)
        if zone == "GMT":
            header = format_datetime(when, usegmt=True)
        elif zone == "-0000":  # no zone: taken as UTC
            header = format_datetime(when.replace(tzinfo=None))
        else:
            header = format_datetime(when.astimezone(timezone(timedelta(hours=2))))
    else:
        header = str(seconds)

    assert parse_retry_after(padding + header + padding, now=NOW) == float(max(0, seconds))


@PROPERTY
@given(
    value=st.one_of(
        st.none(),
        st.text(max_size=40),
        st.sampled_from(["", "nan", "-inf", "1e400", "-5", "1_000", "\u0661\u0662", "0x10"]),
        st.sampled_from(
            [
                "Tue Feb 16 2021 09:02:42 GMT+0100 (Central European Standard Time)",
                "Mon, 31 Feb 2025 00:00:00 GMT",
                "Mon, 01 Jan 0001 00:00:00 +2359",
                "Fri, 31 Dec 9999 23:59:59 -2359",
                "Sun, 06 Nov 1994 08:49:37 GMT",
            ]
        ),
    )
)
def test_any_retry_after_is_a_finite_wait_or_none(value: str | None) -> None:
    """Any header value (a date lemlist's X-RateLimit-Reset style, NaN, 1e400, junk): None
    or a finite, non-negative number of seconds."""
    wait = parse_retry_after(value, now=NOW)

    assert wait is None or (math.isfinite(wait) and wait >= 0)


@settings(PROPERTY, max_examples=100)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "",
                "Campaign not found",
                "CAMPAIGN NOT FOUND",
                "Export with id axp_DIoSPp9YM5EwWdyP0 not found",
                "No user found for this API key",
            ]
        ),
    ),
    export_id=export_ids,
)
def test_a_404_is_named_by_its_route_and_lemlists_words(text: str, export_id: str) -> None:
    """On the status route a 404 is an expired export unless lemlist says the campaign is
    unknown; on start a missing campaign; on a download a deleted file; elsewhere a request
    error. Each carries lemlist's words (or `404`) and the status 404."""
    on_status = status_not_found(export_id)(text)
    if "campaign not found" in text.lower():
        assert type(on_status) is CampaignNotFoundError
    else:
        assert type(on_status) is ExportExpiredError
        assert export_id in str(on_status)
    built = [on_status, campaign_not_found(text), download_not_found(text), generic_not_found(text)]
    assert [type(e) for e in built[1:]] == [
        CampaignNotFoundError,
        DownloadUnavailableError,
        LemlistRequestError,
    ]
    said = f": {text}" if text else ""
    assert all(error.status == 404 for error in built)
    assert f"({text or '404'})" in str(on_status)
    assert str(built[1]) == f"lemlist has no such campaign ({text or '404'})"
    assert str(built[2]) == (
        "The export file is gone (lemlist deletes it 24 hours after it is ready)" + said
    )
    assert str(built[3]) == f"lemlist answered 404{said}"


# -- through the client ----------------------------------------------------------------------


class _Lemlist(urllib3.PoolManager):
    """Answers every request itself: `answers` in turn, then `after` for good. Records
    each request's URL and whether the lemlist credentials went along."""

    def __init__(
        self, answers: list[tuple[int, bytes, dict[str, str]]], after: tuple[int, bytes]
    ) -> None:
        super().__init__(retries=False)
        self.answers = list(answers)
        self.after = (*after, {"Content-Length": str(len(after[1]))})
        self.sent: list[tuple[str, bool]] = []

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        self.sent.append((url, "Authorization" in (kw.get("headers") or {})))
        status, body, headers = self.answers.pop(0) if self.answers else self.after
        return urllib3.HTTPResponse(
            body=io.BytesIO(body),
            status=status,
            headers=headers,
            preload_content=kw.get("preload_content", True),
        )


_FINE = {
    "start": json.dumps({"id": EXPORT, "status": "pending"}).encode(),
    "status": json.dumps({"ok": True, "status": {"id": EXPORT, "status": "pending"}}).encode(),
    "campaigns": b"[]",
}
ROUTES: dict[str, tuple[str, Callable[[LemlistClient], Any]]] = {
    "start": (f"/campaigns/{CAMPAIGN}/export/start", lambda c: c.start_export(CAMPAIGN)),
    "status": (
        f"/campaigns/{CAMPAIGN}/export/{EXPORT}/status",
        lambda c: c.get_export_status(CAMPAIGN, EXPORT),
    ),
    "campaigns": ("/campaigns", lambda c: list(c.list_campaigns(page_size=PAGE_SIZE))),
}


def _client(lemlist: _Lemlist, sleeps: list[float] | None = None) -> LemlistClient:
    sleep = (sleeps if sleeps is not None else []).append
    return LemlistClient(KEY, ClientSettings(base_url=API), http=lemlist, sleep=sleep)


_NOT_JSON = object()


def _decoded(body: bytes | str) -> Any:
    """The JSON value in `body`, or _NOT_JSON when Python's json cannot build one (not
    JSON, not UTF-8/16/32, a number over the digit limit, nesting deeper than the
    recursion limit)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


@PROPERTY
@example(route="status", body=HUGE_NUMBER)
@example(route="start", body=DEEP_NESTING)
@example(route="campaigns", body=b"[" * 5000)
@given(
    route=st.sampled_from(sorted(ROUTES)),
    body=st.one_of(
        st.binary(max_size=64),
        loose_json.map(lambda v: json.dumps(v).encode()),
        status_answers().map(lambda a: json.dumps({"ok": True, "status": a}).encode()),
        st.lists(st.one_of(campaigns, junk), max_size=4).map(lambda v: json.dumps(v).encode()),
        st.tuples(json_values, st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"])).map(
            lambda t: json.dumps(t[0], ensure_ascii=False).encode(t[1])
        ),
        st.sampled_from([b"", b"<html>maintenance</html>", b"NaN", b'"\\ud800"', b"\xff\xfe{"]),
    ),
)
def test_a_200_answer_is_read_like_its_json_or_is_a_protocol_error(route: str, body: bytes) -> None:
    """Any bytes lemlist answers with 200: exactly what the readers make of their JSON, or,
    when Python's json cannot build a value from them, LemlistProtocolError naming the
    route; nothing else leaves the client, and never the key."""
    path, call = ROUTES[route]
    lemlist = _Lemlist([(200, body, {})], after=(200, _FINE[route]))
    decoded = _decoded(body)

    try:
        outcome = call(_client(lemlist))
    except LemlistProtocolError as refusal:
        assert KEY not in str(refusal)
        if decoded is _NOT_JSON:
            assert str(refusal) == f"lemlist answered {path} with a body that is not JSON"
        elif route == "campaigns":
            assert _page_by_policy(decoded, PAGE_SIZE) is None
        else:
            refused_by_policy = _status_by_policy(decoded, CAMPAIGN)
            assert isinstance(refused_by_policy, str) and refused_by_policy in str(refusal)
        return
    assert decoded is not _NOT_JSON
    if route == "campaigns":
        page = _page_by_policy(decoded, PAGE_SIZE)
        assert page is not None and outcome == page[0]
        assert len(lemlist.sent) == (2 if page[1] else 1)
    else:
        assert outcome == _status_by_policy(decoded, CAMPAIGN)
        assert len(lemlist.sent) == 1


error_bodies = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=60).map(str.encode),
    st.builds(
        lambda said, extra: json.dumps({"ok": False, **extra, "message": said}).encode(),
        st.one_of(st.text(max_size=30), st.sampled_from(["Bad team", "Campaign not found"])),
        st.dictionaries(st.sampled_from(["ok", "error", "code"]), json_values, max_size=2),
    ),
    st.sampled_from(
        [
            b"",
            b"Bad team",
            b"bad TEAM",
            b"Campaign not found",
            b"CAMPAIGN NOT FOUND\n",
            b'{"ok": false, "message": "Export with id axp_DIoSPp9YM5EwWdyP0 not found"}',
            b"<html><body>502 Bad Gateway</body></html>",
            b"invalid key " + KEY.encode(),
            HUGE_MESSAGE,
            DEEP_NESTING,
        ]
    ),
)
retry_after_headers = st.one_of(
    st.none(),
    st.integers(0, 120).map(str),
    st.sampled_from(["", "0", "-5", "1.5", "soon", "nan", "inf", "1e400", " 7 "]),
)


def _expected_failure(route: str, status: int, text: str) -> type[LemlistError]:
    """The error class for an answer that is not 200, by status and lemlist's words."""
    lowered = text.lower()
    if status == 401:
        return LemlistAuthError
    if status == 400 and "bad team" in lowered:
        return LemlistBadTeamError
    if status == 404:
        if route == "campaigns":
            return LemlistRequestError
        if route == "status" and "campaign not found" not in lowered:
            return ExportExpiredError
        return CampaignNotFoundError
    if status == 429:
        return RateLimitedError
    return LemlistTransientError if status >= 500 else LemlistRequestError


@PROPERTY
@example(route="status", status=404, body=HUGE_MESSAGE, retry_after=None)
@example(route="start", status=503, body=DEEP_NESTING, retry_after=None)
@example(route="campaigns", status=400, body=b"Bad team", retry_after=None)
@example(route="start", status=400, body=b'{"ok": false, "message": "bad TEAM"}', retry_after=None)
@example(route="status", status=429, body=b"", retry_after="0")
@given(
    route=st.sampled_from(sorted(ROUTES)),
    status=st.one_of(
        st.sampled_from([201, 204, 302, 400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503]),
        st.integers(100, 599).filter(lambda s: s != 200),
    ),
    body=error_bodies,
    retry_after=retry_after_headers,
)
def test_an_answer_that_is_not_200_is_the_typed_error_its_status_names(
    route: str, status: int, body: bytes, retry_after: str | None
) -> None:
    """Any status but 200, any body, any Retry-After: the one LemlistError subclass the
    status (and, for 400 and 404, lemlist's words) names, carrying the status, lemlist's
    words when it gave some, never the key. A 429 whose wait fits the budget (0 s) is
    waited out and asked again; any other answer is asked once."""
    _, call = ROUTES[route]
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    lemlist = _Lemlist([(status, body, headers)], after=(200, _FINE[route]))
    sleeps: list[float] = []
    client = _client(lemlist, sleeps)
    text = error_text(body)  # after the client registered its key: masked like the client's
    expected = _expected_failure(route, status, text)
    wait = parse_retry_after(retry_after)

    if expected is RateLimitedError and wait == 0:
        call(client)
        assert sleeps == [0.0]
        assert len(lemlist.sent) == 2
        return
    with pytest.raises(LemlistError) as raised:
        call(client)

    error = raised.value
    assert type(error) is expected
    assert error.status == status
    assert KEY not in str(error)
    assert len(lemlist.sent) == 1
    assert sleeps == []
    if isinstance(error, RateLimitedError):
        assert error.retry_after == wait
    elif expected not in (LemlistAuthError, LemlistBadTeamError):
        assert text in str(error)
    if expected in (LemlistRequestError, LemlistTransientError):
        assert str(error) == f"lemlist answered {status}" + (f": {text}" if text else "")


_HOSTS = [
    "api.lemlist.com", "Api.Lemlist.com", "files.lemlist.com", "evil.example", "localhost",
    "api.lemlist.com:443", "api.lemlist.com:0", "xn--lmlist-bva.com", "\u0430pi.lemlist.com",
    "api.lemlist.com%2e",
]  # fmt: skip
download_url_candidates = st.one_of(
    download_urls,
    st.sampled_from(
        [
            "https://api.lemlist.com/api/files/exports/fil_axp_7guBefhehehe.csv",
            "https://API.LEMLIST.COM:443/api/files/x.csv#part",
            "https://api.lemlist.com:8443/api/files/x.csv",
            "http://api.lemlist.com/api/files/x.csv",
            "https://storage.example.com/exports/x.csv?X-Amz-Signature=abc",
            "https://evil.example\\@api.lemlist.com/api/files/x.csv",
            "https://user:pw@api.lemlist.com/api/files/x.csv",
            "https://api.lemlist.com.evil.example/x.csv",
            "https://127.0.0.1/x.csv",
            "https://10.0.0.1/x.csv",
            "https://[::1]/x.csv",
            "https://2130706433/x.csv",
            "https://api.lemlist.com/api/files/x.csv\n",
            " https://api.lemlist.com/x.csv",
            "//api.lemlist.com/x.csv",
            "/api/files/x.csv",
            "javascript:alert(1)",
            "ftp://api.lemlist.com/x.csv",
        ]
    ),
    st.builds(
        lambda scheme, host, path: f"{scheme}://{host}{path}",
        st.sampled_from(["https", "HTTPS", "http", "ftp"]),
        st.sampled_from(_HOSTS),
        st.text(max_size=12).map(lambda s: "/" + s),
    ),
    st.text(min_size=1, max_size=30),
)


@settings(PROPERTY, max_examples=150)
@given(url=download_url_candidates)
def test_a_download_url_from_an_answer_is_fetched_only_as_the_judge_rebuilt_it(url: str) -> None:
    """The `url` of a done status is read as lemlist sent it, kept out of `raw`, and then
    either refused by the URL judge before any request, with the judge's own words, or
    fetched exactly in the form the judge rebuilt, with the credentials only on the API's
    origin."""
    answer = {"id": EXPORT, "campaignId": CAMPAIGN, "status": "done", "fileSize": 4, "url": url}
    lemlist = _Lemlist(
        [(200, json.dumps({"ok": True, "status": answer}).encode(), {})], after=(200, b"a,b\n")
    )
    client = _client(lemlist)

    status = client.get_export_status(CAMPAIGN, EXPORT)

    assert status.url == url
    assert "url" not in status.raw
    try:
        judged = UrlJudge().judge(url, "lemlist's download URL")
    except UnsafeUrlError as verdict:
        with pytest.raises(UnsafeUrlError) as refused:
            client.open_download(url)
        assert str(refused.value) == str(verdict)
        assert len(lemlist.sent) == 1  # the status check only
        return
    with client.open_download(url) as download:
        assert download.read() == b"a,b\n"
    assert lemlist.sent[1:] == [(judged.url, judged.origin == API_ORIGIN)]
