"""Properties of the URL judge over generated URLs, checked against urllib3 itself.

The leak this guards against was a disagreement between the parser that decided and the
parser that connected. So the oracle here is the connecting side: urllib3's PoolManager,
asked which connection pool (scheme, host, port) a URL would use. No request leaves the
machine: pools connect lazily, and the client's requests are answered by a fake manager
that records the pool each one would have used.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import urllib3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lemlist_export.core.errors import ExportError, UnsafeUrlError
from lemlist_export.core.url_judge import LOCAL_URLS, UrlJudge
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.notify.callbacks import CallbackPolicy

API = "https://api.lemlist.com/api"
KEY = "property-test-key-0123456789"
JUDGES = st.sampled_from([UrlJudge(), LOCAL_URLS])

# Pieces that have made parsers disagree (RFC 3986 vs WHATWG vs urllib3): delimiters, user
# info, backslashes, percent-escapes, whitespace, Unicode look-alikes, numeric hosts.
_TRICKY = [
    "@", ":", "\\", "/", "//", "?", "#", "%", "%2e", "%40", "%5c", ".", "[", "]", " ", "\t",
    "\n", "\r", "\x00", "\u200b", "\u3000", "\uff41", "\u3002", "\uff10", "a", "1", "-", "_",
    "~", ";", "=",
]  # fmt: skip
_HOSTS = [
    "api.lemlist.com",
    "API.LEMLIST.COM",
    "evil.example",
    "hooks.zapier.com",
    "attacker.example",
    "127.0.0.1",
    "localhost",
    "[::1]",
    "10.0.0.1",
    "2130706433",
    "0x7f.1",
    "1.1.1.1",
    "",
]
_SCHEMES = ["https", "http", "HTTPS", "hTtP", "ftp", "", "https:", "javascript"]


# What can end or fake an authority: where parsers disagree most.
_AUTHORITY_BREAKERS = ["\\", "@", ":", "/", "#", "?", "%5c", "%40", " ", "\t", "evil.example"]


def _pieces(max_size: int, alphabet: list[str] | None = None) -> st.SearchStrategy[str]:
    parts = st.sampled_from(alphabet) if alphabet else st.sampled_from(_TRICKY + _HOSTS)
    return st.lists(parts, max_size=max_size).map("".join)


@st.composite
def urls(draw: st.DrawFn) -> str:
    """URL-shaped strings, often valid, often one character away from ambiguous. Mostly
    https and lemlist's host: the credentials are at stake only where both are."""
    scheme = draw(st.sampled_from(["https"] * 8 + _SCHEMES))
    separator = draw(st.sampled_from(["://"] * 8 + [":/", ":\\\\", ":", "//", ":///"]))
    userinfo = draw(
        st.one_of(
            st.just(""),
            _pieces(4).map(lambda s: s + "@"),
            _pieces(3, _AUTHORITY_BREAKERS).map(lambda s: s + "@"),
        )
    )
    host = draw(st.one_of(st.sampled_from(["api.lemlist.com"] * 6 + _HOSTS), _pieces(4)))
    port = draw(st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}")))
    rest = draw(_pieces(6))
    return scheme + separator + userinfo + host + port + rest


ANY_URL = st.one_of(urls(), urls(), urls(), st.text(max_size=40), _pieces(10))


def _pool(url: str) -> tuple[str, str, int]:
    """Where urllib3 would connect for `url`: the pool's scheme, host and port."""
    pool = urllib3.PoolManager().connection_from_url(url)
    return pool.scheme, pool.host, int(pool.port or 0)


def _judged_host(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url=ANY_URL, judge=JUDGES)
def test_the_host_a_connection_reaches_is_the_host_that_was_judged(url: str, judge: UrlJudge):
    try:
        judged = judge.judge(url)
    except UnsafeUrlError:
        return
    assert _pool(judged.url) == (judged.scheme, _judged_host(judged.host), judged.port)
    # And what is fetched carries nothing the judge refuses.
    assert "@" not in judged.url.split("/", 3)[2]
    assert "\\" not in judged.url
    assert judged.url.isascii() and judged.url.isprintable() and " " not in judged.url
    assert judge.judge(judged.url) == judged


@settings(max_examples=300, deadline=None)
@given(url=ANY_URL)
def test_deployed_only_https_to_public_hosts_is_accepted(url: str):
    try:
        judged = UrlJudge().judge(url)
    except UnsafeUrlError:
        return
    scheme, host, _ = _pool(judged.url)
    assert scheme == "https"
    assert host not in ("127.0.0.1", "localhost", "::1", "10.0.0.1", "0.0.0.0")


class _FakeManager(urllib3.PoolManager):
    """Answers every request itself, recording the pool urllib3 would have connected to and
    whether the lemlist credentials went along. Redirects come from `locations`."""

    def __init__(self, locations: list[str]) -> None:
        super().__init__(retries=False)
        self.locations = list(locations)
        self.sent: list[tuple[tuple[str, str, int], bool]] = []

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        headers = kw.get("headers") or {}
        self.sent.append((_pool(url), "Authorization" in headers))
        if self.locations:
            location = self.locations.pop(0)
            return urllib3.HTTPResponse(
                body=io.BytesIO(b""), status=302, headers={"Location": location}
            )
        return urllib3.HTTPResponse(
            body=io.BytesIO(b"a,b\n1,2\n"),
            status=200,
            headers={"Content-Length": "8"},
            preload_content=False,
        )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The reported leaks, as regressions: a crafted download URL, a crafted redirect, a port
# one parser read as the default and the other did not.
@example(first="https://evil.example\\@api.lemlist.com/x", hops=[], judge=UrlJudge())
@example(
    first="https://api.lemlist.com/api/files/x.csv",
    hops=["https://evil.example\\@api.lemlist.com/x"],
    judge=UrlJudge(),
)
@example(first="https://api.lemlist.com/x", hops=["https://api.lemlist.com:0/x"], judge=UrlJudge())
# A foreign hop bouncing back to an API path of its choosing.
@example(
    first="https://storage.example.com/f",
    hops=["https://api.lemlist.com/api/team"],
    judge=UrlJudge(),
)
@given(
    first=ANY_URL,
    hops=st.lists(st.one_of(ANY_URL, st.sampled_from(["/api/files/x.csv", "//evil.example/x"]))),
    judge=JUDGES,
)
def test_credentials_go_to_the_lemlist_origin_only(
    first: str, hops: list[str], judge: UrlJudge
) -> None:
    manager = _FakeManager(hops[:6])
    client = LemlistClient(KEY, ClientSettings(base_url=API, urls=judge), http=manager)

    with contextlib.suppress(ExportError):
        client.open_download(first).close()

    lemlist = ("https", "api.lemlist.com", 443)
    left = False  # whether the chain has been anywhere else
    for pool, with_credentials in manager.sent:
        left = left or pool != lemlist
        if with_credentials:
            assert pool == lemlist
            assert not left  # another server chose this hop: it gets no key


@settings(max_examples=400, deadline=None)
@given(url=ANY_URL, judge=JUDGES)
def test_an_accepted_callback_reaches_an_allowed_host(url: str, judge: UrlJudge):
    policy = CallbackPolicy(("hooks.zapier.com",), judge)
    try:
        accepted = policy.accept(url)
    except ExportError:
        return
    _, host, _ = _pool(accepted)
    assert host == "hooks.zapier.com" or host.endswith(".hooks.zapier.com")
