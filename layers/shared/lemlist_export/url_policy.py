"""Which URLs we call, and which of them may see the lemlist credentials.

Credentials go to the lemlist API origin only; plain http is allowed for loopback hosts
(local runs against the simulator) and refused everywhere else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import UnsafeUrlError

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    """scheme://host:port, normalised so that equal origins compare equal."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"


def origin_of(url: str) -> Origin:
    """The origin of an absolute URL; raises UnsafeUrlError if it has none."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise UnsafeUrlError("Not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UnsafeUrlError(f"Not an absolute http(s) URL: {describe_url(url)}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UnsafeUrlError(f"Bad port in URL: {describe_url(url)}") from exc
    return Origin(scheme, parts.hostname.lower(), port)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_url(url: str) -> Origin:
    """Refuse anything but https, except plain http to a loopback host."""
    origin = origin_of(url)
    if origin.scheme == "http" and not is_loopback_host(origin.host):
        raise UnsafeUrlError(
            f"Refusing plain http to {origin.host}: only https is allowed outside this machine"
        )
    return origin


def describe_url(url: str) -> str:
    """A URL safe to show: scheme, host and path; no query string, fragment or user info."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a valid URL)"
    host = _bracketed(parts.hostname or "")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _bracketed(host: str) -> str:
    """IPv6 literals keep their brackets in URLs (http://[::1]:80)."""
    return f"[{host}]" if ":" in host else host
