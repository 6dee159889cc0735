"""Configuration from the Lambda environment, which the template fills from its parameters.

Read when used, not at import, so a missing variable fails the one call that needs it with
a sentence naming the variable. Every variable the code reads is set by template.yaml, or is
one of `NOT_FROM_THE_TEMPLATE` below (a test holds the code to that list).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lemlist_export.core.errors import ConfigurationError
from lemlist_export.core.url_judge import UrlJudge
from lemlist_export.lemlist.client import DEFAULT_API_URL
from lemlist_export.lemlist.rate_gate import DEFAULT_LIMIT
from lemlist_export.storage.s3_upload import DEFAULT_PART_SIZE, MIB
from lemlist_export.workflow.wait_policy import WaitPolicy

# Variables the code reads that template.yaml does not set, and who does.
NOT_FROM_THE_TEMPLATE = {
    "AWS_REGION": "Lambda sets it in every function",
    "AWS_LAMBDA_FUNCTION_NAME": "Lambda sets it (the idempotency key prefix)",
    "ALLOW_LOCAL_URLS": "the local stack only: plain http and loopback URLs (docs/security.md)",
    "EXPORT_EXPIRES_AFTER_SECONDS": "tests only: lemlist's 2-hour expiry, shortened",
    "MAX_TRANSIENT_ERRORS": "tests only: fewer transient errors before giving up",
    "DELIVERY_RETRY_SECONDS": "tests only: no wait between copy attempts",
    "MAX_DELIVERY_ATTEMPTS": "tests only: fewer copy attempts",
    "UPLOAD_PART_SIZE_MIB": "tests and benchmarks only: another multipart part size",
    "LEMLIST_READ_TIMEOUT_SECONDS": "tests only: a shorter read timeout for lemlist calls",
}


def required(name: str, environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"The environment variable {name} is not set")
    return value


def optional(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def integer(name: str, default: int, environ: Mapping[str, str] = os.environ) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return number


def wait_policy(environ: Mapping[str, str] = os.environ) -> WaitPolicy:
    """The waits new executions get: template parameters, else lemlist's advice."""
    base = WaitPolicy()
    return WaitPolicy(
        first_wait_seconds=integer("POLL_FIRST_WAIT_SECONDS", base.first_wait_seconds, environ),
        interval_seconds=integer("POLL_INTERVAL_SECONDS", base.interval_seconds, environ),
        max_interval_seconds=integer(
            "POLL_MAX_INTERVAL_SECONDS", base.max_interval_seconds, environ
        ),
        wait_growth_percent=integer("POLL_WAIT_GROWTH_PERCENT", base.wait_growth_percent, environ),
        expire_after_seconds=integer(
            "EXPORT_EXPIRES_AFTER_SECONDS", base.expire_after_seconds, environ
        ),
        max_transient_errors=integer("MAX_TRANSIENT_ERRORS", base.max_transient_errors, environ),
        delivery_retry_seconds=integer(
            "DELIVERY_RETRY_SECONDS", base.delivery_retry_seconds, environ
        ),
        max_delivery_attempts=integer("MAX_DELIVERY_ATTEMPTS", base.max_delivery_attempts, environ),
    )


def lemlist_api_url(environ: Mapping[str, str] = os.environ) -> str:
    return optional("LEMLIST_API_URL", environ) or DEFAULT_API_URL


def lemlist_read_timeout(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds to wait for lemlist's answer (10 by default; tests shorten it)."""
    return float(max(1, integer("LEMLIST_READ_TIMEOUT_SECONDS", 10, environ)))


def requests_per_window(environ: Mapping[str, str] = os.environ) -> int:
    """lemlist requests one API key may make in any 2 seconds, across the whole stack."""
    return max(2, integer("LEMLIST_REQUESTS_PER_WINDOW", DEFAULT_LIMIT, environ))


def download_url_expiry(environ: Mapping[str, str] = os.environ) -> int:
    return max(60, integer("DOWNLOAD_URL_EXPIRY_SECONDS", 900, environ))


def retention_days(environ: Mapping[str, str] = os.environ) -> int:
    return integer("RECORD_RETENTION_DAYS", 90, environ)


def part_size(environ: Mapping[str, str] = os.environ) -> int:
    return integer("UPLOAD_PART_SIZE_MIB", DEFAULT_PART_SIZE // MIB, environ) * MIB


def max_download_bytes(environ: Mapping[str, str] = os.environ) -> int:
    """The largest CSV the stack downloads (MaxDownloadMiB), announced by lemlist or not."""
    return max(1, integer("MAX_DOWNLOAD_MIB", 5120, environ)) * MIB


def url_judge(environ: Mapping[str, str] = os.environ) -> UrlJudge:
    """Which URLs may be called. `ALLOW_LOCAL_URLS=true` (plain http and loopback hosts) is
    set by the local stack only; the template never sets it."""
    return UrlJudge(allow_local=environ.get("ALLOW_LOCAL_URLS", "").strip().lower() == "true")
