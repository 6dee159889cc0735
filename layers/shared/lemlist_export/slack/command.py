"""A Slack slash command: the form Slack posts, what the user asked for, and its run's name.

`/lemlist-export cam_XXXX` (or `export cam_XXXX`, `start cam_XXXX`, or the campaign's lemlist
link) starts an export, `status axp_XXXX` (or `axp_XXXX`) says where one stands, `retry
axp_XXXX` re-drives a failed one, `help` or nothing shows the usage. Parsing is forgiving
about what people type and paste (case, spacing, backticks, quotes, Slack's `<url|label>`
links) and strict about ids: they end up in lemlist URLs and S3 keys. A link is read for its
campaign id, never fetched (campaign_links).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qs

from lemlist_export.core.errors import InvalidRequestError
from lemlist_export.core.identifiers import is_lemlist_id
from lemlist_export.lemlist.campaign_links import (
    looks_like_campaign_id,
    looks_like_export_id,
    looks_like_link,
    read_campaign_link,
)
from lemlist_export.slack.messages import DEFAULT_COMMAND

_MAX_FORM_FIELDS = 100  # Slack sends about 15
_EXECUTION_NAME_PREFIX = "slack_"
_EXECUTION_NAME_MAX = 80  # Step Functions' limit
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")
# What a pasted id may be wrapped in: code spans, straight and typographic quotes, guillemets.
_WRAPPERS = "`'\"\u201c\u201d\u2018\u2019\u00ab\u00bb"
# A bare word is taken as an id only if it looks like one (`cam_...`, `axp_...`), so that a
# mistyped keyword is reported as such rather than sent to lemlist as a campaign.
_LOOKS_LIKE_ID = re.compile(r"[A-Za-z]+_[A-Za-z0-9_]+")
# The text's words; Slack's `<target|label>` (a link, a mention) is one word, whatever its label.
_WORD = re.compile(r"<[^<>]*>|\S+")
# A link as Slack sends it: `<https://...>` or `<https://...|label>`, `&`, `<`, `>` escaped.
_SLACK_LINK = re.compile(r"<((?i:https?)://[^|<>]*)(?:\|[^<>]*)?>")
_SLACK_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_EXAMPLE_CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
_EXAMPLE_EXPORT = "axp_Vv6lJOc8NlVVmDud5"
_HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
_STATUS_WORDS = frozenset({"status"})
_EXPORT_WORDS = frozenset({"export", "start"})
_RETRY_WORDS = frozenset({"retry"})
_ECHO_MAX = 40  # how much of an unrecognized word we quote back


@dataclass(frozen=True)
class SlackCommand:
    """The fields of Slack's slash-command form that we use ("" when absent)."""

    command: str = ""
    text: str = ""
    user_id: str = ""
    user_name: str = ""
    channel_id: str = ""
    team_id: str = ""
    # Anyone holding it can post to the channel for 30 minutes: keep it out of logs.
    response_url: str = field(default="", repr=False)
    trigger_id: str = ""

    @classmethod
    def from_form(cls, body: bytes) -> SlackCommand:
        """Parse the raw `application/x-www-form-urlencoded` body (after any base64)."""
        try:
            form = parse_qs(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=True,
                errors="strict",
                max_num_fields=_MAX_FORM_FIELDS,
            )
        except ValueError as exc:  # UnicodeDecodeError included
            raise InvalidRequestError(
                "The Slack command body is not a UTF-8 form (application/x-www-form-urlencoded)"
            ) from exc
        values = {f.name: (form.get(f.name) or [""])[0] for f in fields(cls)}
        if not values["command"]:
            raise InvalidRequestError("The Slack command body has no `command` field")
        return cls(**values)


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class ShowStatus:
    export_id: str


@dataclass(frozen=True)
class StartExport:
    campaign_id: str


@dataclass(frozen=True)
class RetryExport:
    export_id: str


@dataclass(frozen=True)
class Unknown:
    reason: str  # a sentence to show the user, Slack mrkdwn


Intent = ShowHelp | ShowStatus | StartExport | RetryExport | Unknown


def parse_intent(text: str, command: str = DEFAULT_COMMAND) -> Intent:
    """What the command's text asks for. `command` is how the answers name the command."""
    words = _words(text)
    if not words:
        return ShowHelp()
    keyword = words[0].lower().rstrip(":")
    if keyword in _HELP_WORDS:
        return ShowHelp()
    if keyword in _STATUS_WORDS:
        return _status(words[1:], command)
    if keyword in _EXPORT_WORDS:
        return _export(words[1:], keyword, command)
    if keyword in _RETRY_WORDS:
        return _retry(words[1:], command)
    if len(words) == 1:
        word = words[0]
        if looks_like_link(word):
            return _from_link(word, command)
        if _LOOKS_LIKE_ID.fullmatch(word) and is_lemlist_id(word):
            return ShowStatus(word) if looks_like_export_id(word) else StartExport(word)
    return Unknown(f"I don't know what to do with `{_echo(' '.join(words))}`.")


def execution_name_for(command: SlackCommand) -> str:
    """A Step Functions execution name unique to this invocation, the same on every retry.

    Slack's trigger_id is unique per invocation; without one, a hash of who asked what where
    (the response_url is unique per invocation too).
    """
    if command.trigger_id:
        suffix = _NOT_IN_NAME.sub("_", command.trigger_id)
    else:
        facts = [
            command.team_id,
            command.channel_id,
            command.user_id,
            command.text,
            command.response_url,
        ]
        suffix = hashlib.sha256(json.dumps(facts).encode()).hexdigest()
    return (_EXECUTION_NAME_PREFIX + suffix)[:_EXECUTION_NAME_MAX]


def _status(rest: list[str], command: str) -> Intent:
    if len(rest) == 1 and looks_like_campaign_id(rest[0]):
        return Unknown(
            f"`{rest[0]}` is a campaign id; `status` takes an export id, like "
            f"`{_EXAMPLE_EXPORT}` (the one the start gave you). To export this campaign, "
            f"type `{command} {rest[0]}`."
        )
    if len(rest) == 1 and looks_like_link(rest[0]):
        return Unknown(
            f"`status` takes an export id, like `{_EXAMPLE_EXPORT}`, not a link. To export "
            f"the campaign of a link, type `{command}` and the link."
        )
    return _with_id(rest, "status", "an export id", _EXAMPLE_EXPORT, ShowStatus)


def _retry(rest: list[str], command: str) -> Intent:
    if len(rest) == 1 and looks_like_campaign_id(rest[0]):
        return Unknown(
            f"`{rest[0]}` is a campaign id; `retry` takes the id of a failed export, like "
            f"`{_EXAMPLE_EXPORT}`. To export this campaign, type `{command} {rest[0]}`."
        )
    if len(rest) == 1 and looks_like_link(rest[0]):
        return Unknown(
            f"`retry` takes the id of a failed export, like `{_EXAMPLE_EXPORT}`, not a link."
        )
    return _with_id(rest, "retry", "an export id", _EXAMPLE_EXPORT, RetryExport)


def _export(rest: list[str], keyword: str, command: str) -> Intent:
    if len(rest) == 1 and looks_like_link(rest[0]):
        return _from_link(rest[0], command)
    if len(rest) == 1 and looks_like_export_id(rest[0]):
        return Unknown(
            f"`{rest[0]}` is an export id, not a campaign id; to see where it stands, "
            f"type `{command} status {rest[0]}`."
        )
    return _with_id(rest, keyword, "a campaign id", _EXAMPLE_CAMPAIGN, StartExport)


def _from_link(link: str, command: str) -> Intent:
    """The export of the campaign a pasted lemlist link shows, or why the link says none."""
    read = read_campaign_link(link)
    if read.campaign_id is not None:
        return StartExport(read.campaign_id)
    if read.lone_id is not None:
        advice = f"to export `{read.lone_id}`, type `{command} {read.lone_id}`"
    elif read.found:
        advice = f"type `{command}` and the one you mean, like `{command} {read.found[0]}`"
    else:
        advice = f"type `{command} cam_…` with the id from the campaign's URL"
    return Unknown(f"{read.problem}; {advice}.")


def _with_id(
    rest: list[str],
    keyword: str,
    what: str,
    example: str,
    intent: type[ShowStatus] | type[StartExport] | type[RetryExport],
) -> Intent:
    if not rest:
        return Unknown(f"`{keyword}` needs {what}, like `{example}`.")
    if len(rest) > 1:
        return Unknown(
            f"`{keyword}` takes one id, like `{example}`; got `{_echo(' '.join(rest))}`."
        )
    if not is_lemlist_id(rest[0]):
        return Unknown(
            f"`{_echo(rest[0])}` is not {what}: ids are letters, digits and underscores, "
            f"like `{example}`."
        )
    return intent(rest[0])


def _words(text: str) -> list[str]:
    """The text's words, unwrapped; a Slack link becomes its URL (its label is dropped)."""
    words = []
    for token in _WORD.findall(text):
        word = _unwrap(token)
        link = _SLACK_LINK.fullmatch(word)
        if link is not None:
            word = link.group(1)
            for escaped, char in _SLACK_ESCAPES:
                word = word.replace(escaped, char)
        if word:
            words.append(word)
    return words


def _unwrap(word: str) -> str:
    return word.strip(_WRAPPERS)


def _echo(text: str) -> str:
    """The user's words, short and unable to close our code span."""
    text = text.replace("`", "")
    return text if len(text) <= _ECHO_MAX else text[: _ECHO_MAX - 1] + "…"
