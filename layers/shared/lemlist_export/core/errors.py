"""Typed errors for everything that can go wrong with an export.

The class name is the error name Step Functions sees (Lambda's `errorType`), so the state
machine's Retry and Catch clauses match on these names: rename one and update the ASL.
Messages are human sentences built from facts (status codes, sizes); they never contain a
secret, because they end up in execution histories, records and notifications.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base class: an export cannot proceed, for a reason a person can read."""


class ConfigurationError(ExportError):
    """The deployment is missing a setting or a secret."""


class InvalidRequestError(ExportError):
    """A caller sent something we cannot act on (bad campaign id, malformed body)."""


class BodyTooLargeError(InvalidRequestError):
    """A request body over the size we accept."""


class LemlistError(ExportError):
    """lemlist answered with an error, or did not answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LemlistAuthError(LemlistError):
    """401: lemlist rejected the API key."""


class LemlistBadTeamError(LemlistError):
    """400 `Bad team`: the key's team cannot act on this campaign."""


class LemlistRequestError(LemlistError):
    """Another 4xx answer that retrying will not fix."""


class CampaignNotFoundError(LemlistError):
    """404 `Campaign not found`."""


class ExportExpiredError(LemlistError):
    """The export's status is gone: lemlist keeps a status 2 hours, then answers 404."""


class LemlistExportError(LemlistError):
    """lemlist reported the export itself as failed (`status: "error"`)."""


class RateLimitedError(LemlistError):
    """429: slow down; never call again before `retry_after` seconds (None if not given)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        status: int = 429,
        held_back: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        # True when the stack's own rate gate refused it: nothing reached lemlist.
        self.held_back = held_back


class LemlistTransientError(LemlistError):
    """5xx, timeout or broken connection: worth retrying later."""


class LemlistProtocolError(LemlistError):
    """lemlist answered 2xx with something we cannot read (not JSON, fields missing)."""


class UnsafeUrlError(ExportError):
    """A URL we refuse to call (see `url_judge`), or a download that redirected too often."""


class DownloadIncompleteError(ExportError):
    """The CSV stream ended early or its size disagrees with lemlist's `fileSize`."""

    def __init__(
        self, message: str, *, received: int | None = None, expected: int | None = None
    ) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


class DownloadTooLargeError(ExportError):
    """The CSV is larger than the stack accepts (MaxDownloadMiB): retrying will not help."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class DownloadUnavailableError(LemlistError):
    """The CSV is gone (lemlist deletes it 24 hours after the export is done)."""


class InvalidTransitionError(ExportError):
    """An export record cannot move to the requested status (statuses never go backwards)."""


class ExportNotFoundError(ExportError):
    """No record for this export id."""


class StorageError(ExportError):
    """S3 refused the upload (access denied, no such bucket): retrying will not help."""

    def __init__(self, message: str, *, operation: str = "", code: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


class StorageTransientError(StorageError):
    """S3 failed mid-upload (5xx, throttling, a dropped connection): worth retrying."""


class QueryCopyError(ExportError):
    """The stored CSV cannot be turned into its query-ready copy (not UTF-8, a field or line
    over the converter's limit, a copy over its size bound): retrying will not help. The CSV
    itself is untouched; S3 failing during the copy is StorageError / StorageTransientError."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class AwsTransientError(ExportError):
    """An AWS service throttled or failed after the SDK's own retries: retry the step later."""

    def __init__(self, message: str, *, operation: str = "", code: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code
