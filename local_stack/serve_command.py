"""`make serve ARGS="--port P --lemlist-url URL --api-key KEY"`: the API on 127.0.0.1.

API_TOKEN and SLACK_SIGNING_SECRET come from the environment; unset, they are generated
and printed (they guard only this machine's local server). Posts the stack makes to Slack
or a webhook land in a local receiver and are printed as they arrive.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
from typing import TextIO

from .lemlist_simulator import DEFAULT_CAMPAIGN_ID
from .session import check_lemlist_arguments, running_stack, shown_path


def serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    api_key = check_lemlist_arguments(args)
    token, token_origin = _from_env("API_TOKEN", 24)
    slack_secret, slack_origin = _from_env("SLACK_SIGNING_SECRET", 16)
    stack_options = {"api_token": token, "slack_signing_secret": slack_secret}
    with running_stack(args, api_key, "serve", **stack_options) as (stack, services, log_path):
        from .serve import LocalApiServer, run_until_interrupted

        try:
            server = LocalApiServer(stack, port=args.port).start()
        except OSError as exc:
            err.write(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}\n")
            return 1
        lemlist = "embedded simulator" if services.simulated else services.lemlist_url
        receiver = services.targets.receiver
        # What a second terminal needs, as lines to paste (the docs use these names).
        exports = [
            ("API_URL", server.url),
            ("API_TOKEN", token),
            ("SLACK_SIGNING_SECRET", slack_secret),
            ("WEBHOOK_SIGNING_SECRET", services.targets.signing_secret),
            ("CALLBACK_SIGNING_SECRET", services.targets.callback_signing_secret),
            ("CALLBACK_URL", receiver.url("/hooks/callback")),
            ("SLACK_RESPONSE_URL", receiver.url(services.targets.SLACK_RESPONSE_PATH)),
        ]
        lines = [
            f"lemlist-stats-export API on {server.url}  (Ctrl-C stops it)",
            f"  lemlist               {lemlist}",
            f"  API token             {token}   ({token_origin})",
            f"  Slack signing secret  {slack_secret}   ({slack_origin})",
            f"  Slack response_url    {receiver.url(services.targets.SLACK_RESPONSE_PATH)}"
            "   (for local tries)",
            f"  callbackUrl target    {receiver.url('/hooks/callback')}   (any path works)",
            f"  webhook signing key   {services.targets.signing_secret}"
            "   (the stack signs its webhook posts with it)",
            f"  callback signing key  {services.targets.callback_signing_secret}"
            "   (and its callbackUrl posts with this one)",
            f"  OpenAPI               {server.url}/openapi.json",
            f"  logs                  {shown_path(log_path)}",
            "",
            "In another terminal, paste these lines first:",
            *(f"  export {name}={shlex.quote(value)}" for name, value in exports),
            "",
            "Then try:",
            '  curl -sS -X POST "$API_URL/exports" -H "Authorization: Bearer $API_TOKEN"'
            f""" -d '{{"campaignId": "{DEFAULT_CAMPAIGN_ID}"}}'""",
            "",
        ]
        out.write("\n".join(lines) + "\n")
        out.flush()
        printed = 0

        def show_new_posts() -> None:
            nonlocal printed
            described = services.targets.describe_posts()
            for line in described[printed:]:
                out.write(f"posted  {line}\n")
            printed = len(described)
            out.flush()

        run_until_interrupted(server, show_new_posts)
    return 0


def _from_env(name: str, size: int) -> tuple[str, str]:
    value = os.environ.get(name, "").strip()
    if value:
        return value, f"from ${name}"
    return secrets.token_urlsafe(size), f"generated; set ${name} to choose it"
