"""What the `/lemlist-export` slash command answers, as Slack message payloads.

Ephemeral answers are for the person who typed the command; the end of an export is posted
in the channel with the same Block Kit rendering as the incoming-webhook announcement.
Every text is clipped to Block Kit's limits, whatever lemlist or a failure put in it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from lemlist_export.core.clock import parse_iso
from lemlist_export.core.humanize import format_bytes
from lemlist_export.notify.announcement import Announcement
from lemlist_export.notify.slack_text import escape as _escape
from lemlist_export.notify.slack_text import fit
from lemlist_export.records.record import COPY_AGAIN, DELIVERING, PENDING, ExportRecord
from lemlist_export.workflow.redrive import RetryOutcome

DEFAULT_COMMAND = "/lemlist-export"
EPHEMERAL = "ephemeral"
IN_CHANNEL = "in_channel"

_EXAMPLE_CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
_EXAMPLE_EXPORT = "axp_Vv6lJOc8NlVVmDud5"
_EXAMPLE_LINK = f"https://app.lemlist.com/campaigns/{_EXAMPLE_CAMPAIGN}/report"

Message = dict[str, Any]


def help_message(command: str = DEFAULT_COMMAND) -> Message:
    return _message(
        EPHEMERAL,
        f"{_escape(command)} exports a lemlist campaign's statistics as a CSV into S3.",
        [_section(_usage(command))],
    )


def unknown_message(reason: str, command: str = DEFAULT_COMMAND) -> Message:
    return _message(
        EPHEMERAL,
        _escape(reason),
        [_section(f":warning: {_escape(reason)}"), _section(_usage(command))],
    )


def starting_message(campaign_id: str) -> Message:
    text = f"Starting an export of `{_escape(campaign_id)}`; I'll post here when the CSV is in S3."
    return _message(EPHEMERAL, text, [_section(f":hourglass_flowing_sand: {text}")])


def started_message(record: ExportRecord, *, command: str = DEFAULT_COMMAND) -> Message:
    """Sent once lemlist accepted the start: the export id to ask about."""
    text = f"Export `{record.export_id}` of {_campaign(record)} started: lemlist is preparing it."
    return _message(
        EPHEMERAL,
        text,
        [
            _section(f":rocket: {text}"),
            _context(f"Where it stands: `{_escape(command)} status {record.export_id}`"),
        ],
    )


def retrying_message(outcome: RetryOutcome, *, command: str = DEFAULT_COMMAND) -> Message:
    """The answer to `retry axp_...`: how the retry goes on, or that it already does."""
    retried = outcome.retried
    export = f"`{_escape(retried.export_id)}`"
    follow = outcome.follow or retried
    if outcome.replay:
        text = f"Export {export} is already being retried (retry {outcome.retry})."
        emoji = ":hourglass_flowing_sand:"
    elif outcome.action == COPY_AGAIN:
        text = (
            f"Retrying export {export} of {_campaign(retried)} (retry {outcome.retry}): "
            f"{_escape(outcome.reason)}. I'll post here when the CSV is in S3."
        )
        emoji = ":repeat:"
    else:
        text = (
            f"Retrying export {export} of {_campaign(retried)} (retry {outcome.retry}): "
            f"{_escape(outcome.reason)}. I'll post here when lemlist started it and when the "
            "CSV is in S3."
        )
        emoji = ":repeat:"
    blocks = [_section(f"{emoji} {text}")]
    if outcome.follow is not None or outcome.action == COPY_AGAIN:
        blocks.append(_context(f"Where it stands: `{_escape(command)} status {follow.export_id}`"))
    return _message(EPHEMERAL, text, blocks)


def retry_refused_message(
    reason: str, export_id: str, *, command: str = DEFAULT_COMMAND
) -> Message:
    """Why `retry` did nothing (the export is not failed, or a retry replaced it)."""
    return _message(
        EPHEMERAL,
        _escape(reason),
        [
            _section(f":warning: {_escape(reason)}"),
            _context(f"Where it stands: `{_escape(command)} status {_escape(export_id)}`"),
        ],
    )


def status_message(
    record: ExportRecord | None, export_id: str, *, region: str | None = None
) -> Message:
    """Where export `export_id` stands, for the person who asked."""
    if record is None:
        text = f"I know no export `{_escape(export_id)}`."
        return _message(
            EPHEMERAL,
            text,
            [
                _section(f":grey_question: {text}"),
                _context(
                    "Check the id (the one the start gave you, like "
                    f"`{_EXAMPLE_EXPORT}`); old exports are forgotten after a while."
                ),
            ],
        )
    if record.is_final:
        # The same rendering as the announcement, so an answer never contradicts it.
        return {"response_type": EPHEMERAL, **fit(Announcement.of(record, region).slack_payload())}
    if record.status == PENDING:
        title = ":hourglass_flowing_sand: lemlist is preparing the export"
        facts = [
            ("Progress", _escape(record.progress.describe())),
            ("Status checks", _checks(record)),
        ]
    elif record.status == DELIVERING:
        title = ":inbox_tray: The CSV is ready; copying it to S3"
        facts = [("File size", format_bytes(record.file_size)), ("Status checks", _checks(record))]
    else:  # a status this code does not know yet
        title = f":grey_question: The export is `{_escape(record.status)}`"
        facts = []
    facts = [
        ("Campaign", _campaign(record)),
        ("Export", f"`{record.export_id}`"),
        *facts,
        ("Started", _slack_date(record.created_at)),
    ]
    fallback = f"Export {record.export_id} of {record.campaign_id} is {_escape(record.status)}"
    if record.status == PENDING:
        fallback += f": {_escape(record.progress.describe())}, {_checks_count(record)}"
    return _message(EPHEMERAL, fallback, [_section(title), _fields(facts)])


# -- building blocks -------------------------------------------------------------------


def _usage(command: str) -> str:
    """Every form parse_intent accepts, each shown in a form that works as typed."""
    command = _escape(command)
    return "\n".join(
        [
            "*Usage*",
            f"`{command} {_EXAMPLE_CAMPAIGN}`  export a campaign's statistics to S3 "
            f"(also `{command} export cam_…` or `{command} start cam_…`)",
            f"`{command} {_EXAMPLE_LINK}`  the same, with the campaign's link pasted "
            "from lemlist (an https link on lemlist.com; also after `export` or `start`)",
            f"`{command} status {_EXAMPLE_EXPORT}`  where an export stands "
            f"(also `{command} axp_…`)",
            f"`{command} retry {_EXAMPLE_EXPORT}`  retry a failed export: its file is copied "
            "again while lemlist still holds it (24 hours), else the campaign is exported anew",
            f"`{command} help`  this message (also `?`, `-h`, `--help`, `usage`, or nothing)",
            "Keywords work in any case, with extra spaces or a colon after them; an id or a "
            "link may be in backticks or quotes.",
        ]
    )


def _campaign(record: ExportRecord) -> str:
    if record.campaign_name:
        return f"*{_escape(record.campaign_name)}* (`{record.campaign_id}`)"
    return f"`{record.campaign_id}`"


def _checks(record: ExportRecord) -> str:
    if not record.poll_count:
        return "none yet"
    last = f", last {_slack_date(record.last_polled_at)}" if record.last_polled_at else ""
    return f"{record.poll_count}{last}"


def _checks_count(record: ExportRecord) -> str:
    return "1 status check" if record.poll_count == 1 else f"{record.poll_count} status checks"


def _slack_date(iso_time: str) -> str:
    """A time Slack shows in the reader's own time zone, the UTC text as fallback."""
    try:
        moment = parse_iso(iso_time)
    except ValueError:
        return _escape(iso_time)
    utc = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time_secs}}|{utc}>"


def _message(response_type: str, text: str, blocks: list[dict[str, Any]]) -> Message:
    return {"response_type": response_type, **fit({"text": text, "blocks": blocks})}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fields(facts: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in facts],
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
