"""Campaign ids in pasted lemlist links: people copy the browser's address, not the id.

`https://app.lemlist.com/teams/tea_XXXX/campaigns/cam_A1B2C3D4E5F6G7H8I9/report` is read as
`cam_A1B2C3D4E5F6G7H8I9`: an https URL on lemlist.com (or one of its subdomains) whose path has
exactly one segment that is a well-formed campaign id. The link is never fetched. It is read
with urllib3's parse through the stack's one URL judge (url_judge), so user info, backslashes,
whitespace and odd hosts are refused here as everywhere else; the standard library's URL parser
decides nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lemlist_export.core.errors import UnsafeUrlError
from lemlist_export.core.identifiers import is_lemlist_id
from lemlist_export.core.url_judge import JudgedUrl, UrlJudge

CAMPAIGN_PREFIX = "cam_"
EXPORT_PREFIX = "axp_"
LEMLIST_DOMAIN = "lemlist.com"

_JUDGE = UrlJudge()  # the deployed rules: https to plain public host names only
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# A lemlist address typed without a scheme (Slack turns it into an http link).
_BARE_LEMLIST = re.compile(r"(?:[A-Za-z0-9-]+\.)*lemlist\.com(?:[/?#:]|$)", re.IGNORECASE)
_SHOWN_IDS = 3


@dataclass(frozen=True)
class CampaignLink:
    """What a pasted link says: the campaign id, or why none was taken from it."""

    campaign_id: str | None = None
    # Why no id was taken, a sentence without its final period ("" when one was).
    problem: str = ""
    # The well-formed campaign ids in the link's path (a refused link may still show one).
    found: tuple[str, ...] = ()

    @property
    def lone_id(self) -> str | None:
        """The id to suggest: the only campaign id in the link, read or not."""
        return self.campaign_id or (self.found[0] if len(self.found) == 1 else None)


def looks_like_link(text: str) -> bool:
    """Whether `text` is meant as a URL (then it is read as one, never as an id)."""
    return _SCHEME.match(text) is not None or _BARE_LEMLIST.match(text) is not None


def looks_like_campaign_id(text: str) -> bool:
    """A well-formed id with the campaign prefix (in any case) and something after it."""
    return _has_prefix(text, CAMPAIGN_PREFIX) and _well_formed(text, CAMPAIGN_PREFIX)


def looks_like_export_id(text: str) -> bool:
    return _has_prefix(text, EXPORT_PREFIX) and _well_formed(text, EXPORT_PREFIX)


def read_campaign_link(text: str) -> CampaignLink:
    """The campaign id in a lemlist link, or the reason there is none."""
    scheme = _SCHEME.match(text)
    if scheme is None:
        return CampaignLink(
            problem="That link has no `https://`, so I did not read it",
            found=_ids_if_readable(f"https://{text}"),
        )
    if scheme.group(1).lower() != "https":
        return CampaignLink(
            problem=f"That link is {_clip(scheme.group(1).lower())}, not https, so I did not "
            "read it",
            found=_ids_if_readable("https://" + text[scheme.end() :]),
        )
    try:
        judged = _JUDGE.judge(text, "That link")
    except UnsafeUrlError as exc:
        return CampaignLink(problem=str(exc))
    ids, malformed = _campaign_segments(judged)
    if not _on_lemlist(judged.host):
        return CampaignLink(
            problem=f"That link is on {judged.host}, not {LEMLIST_DOMAIN}, so I did not read it",
            found=ids,
        )
    if len(ids) == 1:
        return CampaignLink(campaign_id=ids[0], found=ids)
    if len(ids) > 1:
        shown = ", ".join(f"`{i}`" for i in ids[:_SHOWN_IDS])
        more = ", …" if len(ids) > _SHOWN_IDS else ""
        return CampaignLink(
            problem=f"That link holds {len(ids)} campaign ids ({shown}{more})", found=ids
        )
    if malformed:
        return CampaignLink(
            problem=(
                f"`{_clip(malformed[0])}` in that link is not a well-formed campaign id "
                "(`cam_` then letters, digits and underscores)"
            )
        )
    return CampaignLink(problem="I found no campaign id in that link")


def _ids_if_readable(url: str) -> tuple[str, ...]:
    """The campaign ids of `url` if it passes the judge (else none: nothing is guessed)."""
    try:
        return _campaign_segments(_JUDGE.judge(url))[0]
    except UnsafeUrlError:
        return ()


def _campaign_segments(judged: JudgedUrl) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(well-formed campaign ids, segments that start like one but are not), in path order."""
    ids: list[str] = []
    malformed: list[str] = []
    for segment in judged.path.split("/"):
        if not _has_prefix(segment, CAMPAIGN_PREFIX):
            continue
        if _well_formed(segment, CAMPAIGN_PREFIX):
            if segment not in ids:
                ids.append(segment)
        else:
            malformed.append(segment)
    return tuple(ids), tuple(malformed)


def _has_prefix(text: str, prefix: str) -> bool:
    return text[: len(prefix)].lower() == prefix


def _well_formed(text: str, prefix: str) -> bool:
    return len(text) > len(prefix) and is_lemlist_id(text)


def _on_lemlist(host: str) -> bool:
    return host == LEMLIST_DOMAIN or host.endswith("." + LEMLIST_DOMAIN)


def _clip(text: str, limit: int = 40) -> str:
    text = text.replace("`", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
