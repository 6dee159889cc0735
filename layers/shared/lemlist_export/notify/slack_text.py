"""Text from outside (campaign names, failure reasons, lemlist's messages) made inert for
Slack's mrkdwn: `<` and `>` delimit links and mentions (`<!channel>`, `<https://x|label>`)
and `&` starts an entity, so all three are escaped wherever such text reaches Slack."""

from __future__ import annotations

import re

# Entities Slack itself escaped a text with are kept as they are.
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")


def escape(text: str) -> str:
    """`text` shown as written: no mention, link or entity in it is acted on."""
    return _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
