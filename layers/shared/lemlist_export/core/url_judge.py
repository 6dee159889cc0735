"""The one judge of every URL this stack calls: lemlist's API, its download URLs and their
redirects, Slack and webhook targets, callback URLs.

Credentials once leaked because one parser (the standard library's) decided whether to
attach them and another (urllib3's) made the connection, and the two read
`https://evil.example\\@api.lemlist.com/` differently. Here every decision is made on
urllib3's own parse, the URL is rebuilt from those parts, and the rebuilt URL (which parses
back to the same parts) is the only thing fetched: what was judged is what is reached.

Refused, whatever the mode: user info, backslashes, whitespace and control characters,
non-ASCII in the host part, hosts that are not a plain DNS name or IP address (numeric
forms such as `2130706433` or `0x7f.1` included), percent-encoding in the host (IPv6 zone
ids included), private and reserved addresses, IPv6 literals other than this machine's.
Deployed, only https to public hosts is accepted; plain http and loopback hosts only when the
local stack says so (`allow_local`, from `ALLOW_LOCAL_URLS`, which the template never sets).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from lemlist_export.core.errors import UnsafeUrlError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 8192
# Scheme, then the authority: everything up to the first `/`, `?` or `#` (backslashes are
# refused before this runs, so every parser agrees on where the authority ends).
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# WHATWG URL parsers (and getaddrinfo) read a host whose last label is a number as IPv4.
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)")
# Unicode categories that must never appear in a URL: controls, format characters (zero
# width and direction marks), separators (spaces of every kind).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


@dataclass(frozen=True)
class Origin:
    """scheme://host:port, normalised so that equal origins compare equal."""

    scheme: str
    host: str  # lower case; IPv6 literals in brackets, as in URLs
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class JudgedUrl:
    """A URL that passed the judge, in the parts the connection uses."""

    scheme: str
    host: str
    port: int
    path: str
    query: str | None

    @property
    def origin(self) -> Origin:
        return Origin(self.scheme, self.host, self.port)

    @property
    def url(self) -> str:
        """The URL to fetch: rebuilt from the judged parts (no fragment, no user info)."""
        port = None if self.port == _DEFAULT_PORTS[self.scheme] else self.port
        return Url(
            scheme=self.scheme, host=self.host, port=port, path=self.path or "/", query=self.query
        ).url

    @property
    def shown(self) -> str:
        """What messages, records and logs may show: scheme and host (paths and queries can
        hold signed tokens)."""
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


@dataclass(frozen=True)
class UrlJudge:
    """Decides whether a URL may be called. `allow_local`: plain http and loopback hosts are
    accepted too (the local stack and its simulator); never set in a deployed stack."""

    allow_local: bool = False

    def judge(self, url: object, what: str = "The URL") -> JudgedUrl:
        """The URL's judged form, or UnsafeUrlError saying why `what` was refused."""
        try:
            return self._judge(url)
        except UnsafeUrlError as exc:
            raise UnsafeUrlError(f"{what} was refused: {exc}") from None

    def follow(self, current: JudgedUrl, location: object, what: str = "A redirect") -> JudgedUrl:
        """Where a redirect's `Location` leads from `current`, judged like any URL."""
        try:
            text = _screened(location)
            try:
                # Only builds a candidate (relative references, dot segments); the candidate
                # is then judged like any URL, so this parser decides nothing.
                candidate = urljoin(current.url, text)
            except ValueError:  # e.g. an unclosed IPv6 bracket
                raise UnsafeUrlError("it cannot be parsed") from None
            return self._judge(candidate)
        except UnsafeUrlError as exc:
            raise UnsafeUrlError(f"{what} was refused: {exc}") from None

    def _judge(self, url: object) -> JudgedUrl:
        text = _screened(url)
        found = _ABSOLUTE.fullmatch(text)
        if found is None:
            raise UnsafeUrlError("it is not an absolute http(s) URL")
        scheme, authority = found.group(1).lower(), found.group(2)
        if scheme not in _DEFAULT_PORTS:
            raise UnsafeUrlError("only http(s) URLs are called")
        if "@" in authority:
            raise UnsafeUrlError("it carries a user name or password")
        if not authority.isascii():
            raise UnsafeUrlError("its host is not plain ASCII")
        if "%" in authority:
            # urllib3 decodes %2e in a host (and IPv6 zone ids start with %25).
            raise UnsafeUrlError("its host is percent-encoded")
        try:
            parts = parse_url(text)
        except LocationParseError:
            raise UnsafeUrlError("it cannot be parsed") from None
        if parts.auth is not None or not parts.host:
            raise UnsafeUrlError("it has no plain host")
        host = _plain_host(parts.host.lower())
        port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
        if not 0 < port < 65536:
            raise UnsafeUrlError("its port is out of range")
        judged = JudgedUrl(scheme, host, port, parts.path or "/", parts.query)
        self._check_reach(judged)
        # The fetched URL must parse back to exactly what was judged.
        again = parse_url(judged.url)
        reparsed = (again.scheme, again.host, again.port or _DEFAULT_PORTS[scheme], again.auth)
        if reparsed != (scheme, host, port, None) or (again.path, again.query) != (
            judged.path,
            judged.query,
        ):
            raise UnsafeUrlError("it does not read the same way twice")
        return judged

    def _check_reach(self, judged: JudgedUrl) -> None:
        local = _is_loopback(judged.host)
        if local and not self.allow_local:
            raise UnsafeUrlError(f"{judged.host} is this machine; only public hosts are called")
        if judged.scheme == "http" and not (local and self.allow_local):
            raise UnsafeUrlError(f"plain http to {judged.host}; only https is called")
        if local:
            return
        address = _ip(judged.host)
        if isinstance(address, ipaddress.IPv6Address):
            # No service we call is an IPv6 literal, and IPv6 can embed any IPv4 address
            # (::ffff:, 6to4, NAT64, Teredo) in ways Python versions classify differently.
            raise UnsafeUrlError(f"{judged.host} is an IPv6 address; only host names are called")
        if address is not None and not _public(address):
            raise UnsafeUrlError(f"{judged.host} is a private or reserved address")
        if address is None and "." not in judged.host:
            raise UnsafeUrlError(f"{judged.host} is not a fully qualified host name")


LOCAL_URLS = UrlJudge(allow_local=True)


def _screened(url: object) -> str:
    """`url` as text, if it has none of the characters parsers disagree about."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("it is not a URL")
    if len(url) > _MAX_URL_LENGTH:
        raise UnsafeUrlError(f"it is longer than {_MAX_URL_LENGTH} characters")
    if "\\" in url:
        raise UnsafeUrlError("it contains a backslash")
    for char in url:
        if char == " " or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise UnsafeUrlError("it contains whitespace or a control character")
    return url


def _plain_host(host: str) -> str:
    """`host` if it is a DNS name or an IP address written the standard way."""
    if host.startswith("["):
        if not host.endswith("]") or "%" in host:
            raise UnsafeUrlError("its IPv6 address is not plain")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UnsafeUrlError("its IPv6 address is not valid") from None
        return host
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            ipaddress.IPv4Address(host)  # dotted quad, no leading zeros
        except ValueError:
            raise UnsafeUrlError("its host is a number but not a plain IPv4 address") from None
        return host
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeUrlError("its host is not a plain DNS name")
    return host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _public(address: ipaddress.IPv4Address) -> bool:
    """Every flag spelled out: which ranges `is_global` covers has changed between Pythons."""
    return address.is_global and not (
        address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_link_local
        or address.is_unspecified
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _ip(host)
    return address is not None and address.is_loopback
