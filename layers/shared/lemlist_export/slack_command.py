"""A Slack slash command: the form Slack posts, what the user asked for, and its run's name.

`/lemlist-export cam_XXXX` (or `export cam_XXXX`) starts an export, `status axp_XXXX` says
where one stands, `help` or nothing shows the usage. Parsing is forgiving about what people
type and paste (case, spacing, backticks, quotes) and strict about ids: they end up in
lemlist URLs and S3 keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qs

from .errors import InvalidRequestError
from .identifiers import is_lemlist_id

_MAX_FORM_FIELDS = 100  # Slack sends about 15
_EXECUTION_NAME_PREFIX = "slack_"
_EXECUTION_NAME_MAX = 80  # Step Functions' limit
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")
# What a pasted id may be wrapped in: code spans, straight and typographic quotes, guillemets.
_WRAPPERS = "`'\"\u201c\u201d\u2018\u2019\u00ab\u00bb"
# A bare word is taken as an id only if it looks like one (`cam_...`, `axp_...`), so that a
# mistyped keyword is reported as such rather than sent to lemlist as a campaign.
_LOOKS_LIKE_ID = re.compile(r"[A-Za-z]+_[A-Za-z0-9_]+")
_EXPORT_ID_PREFIX = "axp_"
_HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
_STATUS_WORDS = frozenset({"status"})
_EXPORT_WORDS = frozenset({"export", "start"})
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
class Unknown:
    reason: str  # a sentence to show the user, Slack mrkdwn


Intent = ShowHelp | ShowStatus | StartExport | Unknown


def parse_intent(text: str) -> Intent:
    """What the command's text asks for."""
    words = [w for w in (_unwrap(w) for w in text.split()) if w]
    if not words:
        return ShowHelp()
    keyword = words[0].lower().rstrip(":")
    if keyword in _HELP_WORDS:
        return ShowHelp()
    if keyword in _STATUS_WORDS:
        return _with_id(words[1:], "status", "an export id", "axp_Vv6lJOc8NlVVmDud5", ShowStatus)
    if keyword in _EXPORT_WORDS:
        return _with_id(words[1:], keyword, "a campaign id", "cam_A1B2C3D4E5F6G7H8I9", StartExport)
    if len(words) == 1 and _LOOKS_LIKE_ID.fullmatch(words[0]) and is_lemlist_id(words[0]):
        if words[0].startswith(_EXPORT_ID_PREFIX):
            return ShowStatus(words[0])
        return StartExport(words[0])
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


def _with_id(
    rest: list[str],
    keyword: str,
    what: str,
    example: str,
    intent: type[ShowStatus] | type[StartExport],
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


def _unwrap(word: str) -> str:
    return word.strip(_WRAPPERS)


def _echo(text: str) -> str:
    """The user's words, short and unable to close our code span."""
    text = text.replace("`", "")
    return text if len(text) <= _ECHO_MAX else text[: _ECHO_MAX - 1] + "…"
