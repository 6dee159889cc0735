"""Slack messages that Slack accepts and that say only what they mean.

Text from outside (campaign names, failure reasons, lemlist's messages) is made inert for
Slack's mrkdwn (`escape`): `<` and `>` delimit links and mentions (`<!channel>`,
`<https://x|label>`) and `&` starts an entity. Every text is clipped to Block Kit's limits
(`fit`): Slack refuses a whole message for one text that is too long.
"""

from __future__ import annotations

import re
from typing import Any

# Entities Slack itself escaped a text with are kept as they are.
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")


def escape(text: str) -> str:
    """`text` shown as written: no mention, link or entity in it is acted on."""
    return _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


# Block Kit limits, in characters: a longer text makes Slack refuse the whole message.
_SECTION_TEXT_MAX = 3000
_FIELD_TEXT_MAX = 2000
_HEADER_TEXT_MAX = 150
_FALLBACK_TEXT_MAX = 3000


def fit(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with every text within Block Kit's limits (a longer one is refused)."""
    blocks = []
    for block in payload.get("blocks", []):
        block = dict(block)
        if block["type"] == "header":
            block["text"] = _clipped(block["text"], _HEADER_TEXT_MAX)
        elif block["type"] == "section":
            if "text" in block:
                block["text"] = _clipped(block["text"], _SECTION_TEXT_MAX)
            if "fields" in block:
                block["fields"] = [_clipped(f, _FIELD_TEXT_MAX) for f in block["fields"]]
        elif block["type"] == "context":
            block["elements"] = [_clipped(e, _SECTION_TEXT_MAX) for e in block["elements"]]
        blocks.append(block)
    text = payload.get("text", "")
    if len(text) > _FALLBACK_TEXT_MAX:
        text = text[: _FALLBACK_TEXT_MAX - 1] + "…"
    return {**payload, "text": text, "blocks": blocks}


def _clipped(text_object: dict[str, Any], limit: int) -> dict[str, Any]:
    text = text_object.get("text", "")
    if len(text) <= limit:
        return text_object
    return {**text_object, "text": text[: limit - 1] + "…"}
