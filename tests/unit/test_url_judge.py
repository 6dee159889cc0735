"""The URL judge: what it accepts, what it refuses and why, deployed and local.

Every URL the stack calls goes through it, so these cases are the security boundary: the
credentials decision, the callback allowlist and the deployed/local split all rest on it.
"""

from __future__ import annotations

import pytest

from lemlist_export.core.errors import UnsafeUrlError
from lemlist_export.core.url_judge import LOCAL_URLS, Origin, UrlJudge

DEPLOYED = UrlJudge()


@pytest.mark.parametrize(
    ("url", "fetched", "origin"),
    [
        (
            "https://api.lemlist.com/api",
            "https://api.lemlist.com/api",
            Origin("https", "api.lemlist.com", 443),
        ),
        (
            "HTTPS://API.Lemlist.COM:443/api/team",
            "https://api.lemlist.com/api/team",
            Origin("https", "api.lemlist.com", 443),
        ),
        (
            "https://api.lemlist.com/api/files/exports/fil_x.csv?sig=a%2Fb#part",
            "https://api.lemlist.com/api/files/exports/fil_x.csv?sig=a%2Fb",
            Origin("https", "api.lemlist.com", 443),
        ),
        ("https://files.example.com:8443", "https://files.example.com:8443/", None),
        ("https://1.1.1.1/x", "https://1.1.1.1/x", Origin("https", "1.1.1.1", 443)),
        # Non-ASCII after the host is percent-encoded, as it goes on the wire.
        ("https://api.lemlist.com/fil_démo.csv", "https://api.lemlist.com/fil_d%C3%A9mo.csv", None),
        # What follows `#` is a fragment, whatever it looks like: never sent, never a host.
        ("https://api.lemlist.com#@evil.example/x", "https://api.lemlist.com/", None),
    ],
)
def test_a_public_https_url_is_accepted_and_fetched_in_its_judged_form(url, fetched, origin):
    judged = DEPLOYED.judge(url)

    assert judged.url == fetched
    if origin is not None:
        assert judged.origin == origin
    # The fetched form is a fixed point: judging it again changes nothing.
    assert DEPLOYED.judge(judged.url) == judged


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # The finding: two parsers disagreed on where the host is.
        ("https://evil.example\\@api.lemlist.com/x", "backslash"),
        ("https://api.lemlist.com\\@evil.example/x", "backslash"),
        ("https://attacker.example\\.hooks.zapier.com/catch", "backslash"),
        ("https://user:pw@api.lemlist.com/x", "user name or password"),
        ("https://@api.lemlist.com/x", "user name or password"),
        ("https://evil.example%5C@api.lemlist.com/x", "user name or password"),
        ("https://evil.example\t@api.lemlist.com/x", "whitespace or a control character"),
        ("https://api.lemlist.com/x y", "whitespace or a control character"),
        ("https://api.lemlist.com/x\r\nHost: evil", "whitespace or a control character"),
        ("https://api.lemlist.com/\u200bx", "whitespace or a control character"),
        ("https://api.lemlist.com\u3000/x", "whitespace or a control character"),
        ("https://api.lemlist.com\x00.evil.example/", "whitespace or a control character"),
        ("https://ａpi.lemlist.com/x", "not plain ASCII"),  # noqa: RUF001 (the point)
        # urllib3 would decode it and connect to api.lemlist.com.evil.example.
        ("https://api.lemlist.com%2eevil.example/", "percent-encoded"),
        ("https://api.lemlist.com./x", "not a plain DNS name"),
        ("https://api_lemlist.com/x", "not a plain DNS name"),
        ("https://-api.lemlist.com/x", "not a plain DNS name"),
        ("https://2130706433/", "number but not a plain IPv4 address"),
        ("https://0x7f.0.0.1/", "number but not a plain IPv4 address"),
        ("https://127.1/", "number but not a plain IPv4 address"),
        ("https://010.0.0.1/", "number but not a plain IPv4 address"),
        ("https://[fe80::1%25eth0]/", "percent-encoded"),
        ("https://api.lemlist.com:0/", "port is out of range"),
        ("https://api.lemlist.com:99999/", "cannot be parsed"),
        ("https:api.lemlist.com/x", "not an absolute http(s) URL"),
        ("//api.lemlist.com/x", "not an absolute http(s) URL"),
        ("/api/team", "not an absolute http(s) URL"),
        ("ftp://api.lemlist.com/x", "only http(s)"),
        ("file:///etc/passwd", "only http(s)"),
        ("", "not a URL"),
        (None, "not a URL"),
        ("https://api.lemlist.com/" + "x" * 9000, "longer than"),
    ],
)
def test_a_url_parsers_could_read_two_ways_is_refused_in_both_modes(url, reason):
    for judge in (DEPLOYED, LOCAL_URLS):
        with pytest.raises(UnsafeUrlError) as raised:
            judge.judge(url, "lemlist's download URL")
        assert str(raised.value).startswith("lemlist's download URL was refused: ")
        assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.lemlist.com/api", "plain http"),
        ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "this machine"),
        ("https://127.0.0.1/x", "this machine"),
        ("https://127.9.9.9/x", "this machine"),
        ("http://localhost/x", "this machine"),
        ("https://api.localhost/x", "this machine"),
        ("https://[::1]/x", "this machine"),
        ("https://10.0.0.1/x", "private or reserved"),
        ("https://192.168.1.10/x", "private or reserved"),
        ("https://169.254.169.254/latest/meta-data/", "private or reserved"),
        ("https://0.0.0.0/x", "private or reserved"),
        # IPv6 literals embed IPv4 in many ways (mapped, 6to4, NAT64, compatible) that Python
        # versions classify differently: none is called.
        ("https://[::ffff:127.0.0.1]/x", "IPv6 address"),
        ("https://[::a9fe:a9fe]/latest/meta-data/", "IPv6 address"),
        ("https://[64:ff9b::a00:1]/x", "IPv6 address"),
        ("https://[2002:a9fe:a9fe::]/x", "IPv6 address"),
        ("https://[2001:4860:4860::8888]/x", "IPv6 address"),
        ("https://192.0.2.1/x", "private or reserved"),
        ("https://240.0.0.1/x", "private or reserved"),
        ("https://224.0.0.1/x", "private or reserved"),
        ("https://intranet/x", "not a fully qualified host name"),
    ],
)
def test_deployed_only_https_to_public_hosts_is_called(url, reason):
    with pytest.raises(UnsafeUrlError) as raised:
        DEPLOYED.judge(url)

    assert reason in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/api",
        "http://127.9.9.9/api",
        "http://localhost:3000/api",
        "http://LOCALHOST/api",
        "http://[::1]:9000/api",
        "https://127.0.0.1/x",
        "https://api.lemlist.com/api",
    ],
)
def test_locally_loopback_hosts_and_plain_http_to_them_are_accepted(url):
    assert LOCAL_URLS.judge(url).host in ("127.0.0.1", "127.9.9.9", "localhost", "[::1]") or (
        LOCAL_URLS.judge(url).scheme == "https"
    )


@pytest.mark.parametrize(
    "url",
    ["http://api.lemlist.com/api", "http://example.com/x.csv", "http://10.0.0.1/api"],
)
def test_locally_plain_http_off_this_machine_is_still_refused(url):
    with pytest.raises(UnsafeUrlError):
        LOCAL_URLS.judge(url)


def test_origins_differ_by_scheme_host_or_port_and_nothing_else():
    origin = DEPLOYED.judge("https://api.lemlist.com/api").origin

    assert DEPLOYED.judge("https://API.LEMLIST.com:443/other?x=1").origin == origin
    assert DEPLOYED.judge("https://api.lemlist.com:8443/api").origin != origin
    assert (
        LOCAL_URLS.judge("http://127.0.0.1/api").origin
        != LOCAL_URLS.judge("http://127.0.0.1:81/api").origin
    )
    assert str(origin) == "https://api.lemlist.com:443"


@pytest.mark.parametrize(
    ("location", "lands_on"),
    [
        ("/api/files/blobs/x.csv", "https://api.lemlist.com/api/files/blobs/x.csv"),
        ("blobs/x.csv", "https://api.lemlist.com/api/files/blobs/x.csv"),
        ("../other.csv", "https://api.lemlist.com/api/other.csv"),
        ("//storage.example.com/x.csv?sig=1", "https://storage.example.com/x.csv?sig=1"),
        ("https://storage.example.com/x.csv", "https://storage.example.com/x.csv"),
    ],
)
def test_a_redirect_is_resolved_against_the_judged_url_then_judged(location, lands_on):
    current = DEPLOYED.judge("https://api.lemlist.com/api/files/exports.csv")

    assert DEPLOYED.follow(current, location).url == lands_on


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://storage.example.com\\@api.lemlist.com/x", "backslash"),
        ("\\\\evil.example/x", "backslash"),
        ("/x\r\nSet-Cookie: a=b", "whitespace or a control character"),
        ("https://user@api.lemlist.com/x", "user name or password"),
        ("http://storage.example.com/x.csv", "plain http"),
        ("https://127.0.0.1/x", "this machine"),
    ],
)
def test_a_redirect_the_judge_refuses_names_the_redirect(location, reason):
    current = DEPLOYED.judge("https://api.lemlist.com/api/files/exports.csv")

    with pytest.raises(UnsafeUrlError) as raised:
        DEPLOYED.follow(current, location, "The download's redirect")

    assert str(raised.value).startswith("The download's redirect was refused: ")
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://API.lemlist.com/api/files/x.csv?access_token=KEY#frag",
            "https://api.lemlist.com",
        ),
        ("https://api.lemlist.com:8443/api/files/x.csv", "https://api.lemlist.com:8443"),
        ("http://127.0.0.1:8080/api/team?x=1", "http://127.0.0.1:8080"),
        ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com"),
    ],
)
def test_a_url_is_shown_as_scheme_and_host_only(url, shown):
    assert LOCAL_URLS.judge(url).shown == shown


@pytest.mark.parametrize("location", ["https://api.lemlist.com[", "https://[::1", "//[x"])
def test_a_redirect_that_cannot_be_parsed_is_refused_not_crashed_on(location):
    current = DEPLOYED.judge("https://api.lemlist.com/api/files/exports.csv")

    with pytest.raises(UnsafeUrlError) as raised:
        DEPLOYED.follow(current, location)

    assert "cannot be parsed" in str(raised.value)
