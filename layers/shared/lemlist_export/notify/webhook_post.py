"""POST a JSON body to a webhook (Slack, Zapier, a callback URL), politely and safely.

A webhook URL is a credential, so it never appears in what this returns. Every URL is
judged by `url_judge` and posted to in its judged form; redirects are not followed (no
webhook we post to redirects, and following one could hand the payload to another host).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from lemlist_export.core.errors import UnsafeUrlError
from lemlist_export.core.url_judge import UrlJudge
from lemlist_export.lemlist.answers import error_text, parse_retry_after
from lemlist_export.notify.webhook_signature import SIGNATURE_HEADER, signature

_MAX_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class PostResult:
    ok: bool
    detail: str


class WebhookPoster:
    def __init__(
        self,
        http: urllib3.PoolManager | None = None,
        *,
        timeout: float = 5.0,
        max_retry_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        urls: UrlJudge | None = None,
    ) -> None:
        self._urls = urls or UrlJudge()
        self._clock = clock
        self._http = http or urllib3.PoolManager(retries=False)
        self._timeout = urllib3.Timeout(connect=3.05, read=timeout)
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        signing_secret: str | None = None,
    ) -> PostResult:
        """Two attempts at most: the second after a 429 (if Retry-After is short), a 5xx or
        a network failure. With `signing_secret`, each attempt is signed when it is sent."""
        try:
            target = self._urls.judge(url, "The URL").url
        except UnsafeUrlError as exc:
            return PostResult(False, f"not sent: {exc}")
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        result, wait = self._attempt(target, body, all_headers, signing_secret)
        if result.ok or wait is None:
            return result
        self._sleep(wait)
        return self._attempt(target, body, all_headers, signing_secret)[0]

    def _attempt(
        self, url: str, body: bytes, headers: dict[str, str], signing_secret: str | None
    ) -> tuple[PostResult, float | None]:
        """The result, and how long to wait before a retry (None: do not retry)."""
        if signing_secret:
            stamp = int(self._clock())
            headers = {**headers, SIGNATURE_HEADER: signature(body, signing_secret, stamp)}
        try:
            response = self._http.request(
                "POST",
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            # What a receiver says is only ever a short detail: never read more of it.
            answer = response.read(_MAX_ANSWER_BYTES)
            response.release_conn()
        except urllib3.exceptions.NewConnectionError:
            # Checked first: urllib3 makes it a subclass of its TimeoutError.
            return PostResult(False, "could not connect"), 1.0
        except urllib3.exceptions.TimeoutError:
            return PostResult(False, "timed out"), 1.0
        except Urllib3HTTPError:
            return PostResult(False, "the connection broke"), 1.0
        if 200 <= response.status < 300:
            return PostResult(True, f"answered {response.status}"), None
        said = error_text(answer)
        result = PostResult(False, f"answered {response.status}" + (f": {said}" if said else ""))
        if response.status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after <= self._max_retry_wait:
                return result, retry_after
            return result, None
        return result, (1.0 if response.status >= 500 else None)
