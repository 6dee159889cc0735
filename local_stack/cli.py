"""`make run`: one complete export on the embedded stack, with a progress line and a summary.

    python -m local_stack run [--campaign ID] [--lemlist-url URL] [--api-key KEY]
                              [--out DIR] [--json]

Without --lemlist-url an embedded lemlist simulator plays lemlist. Handler logs go to a file
(named in the summary); stdout carries only the result, and with --json its last line is
one JSON object. Exit code 0 if and only if the export was delivered.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from lemlist_export.core.errors import ExportError
from lemlist_export.core.humanize import format_bytes, format_duration
from lemlist_export.core.identifiers import require_lemlist_id

from .export_run import ExportSummary, run_export
from .lemlist_simulator import DEFAULT_CAMPAIGN_ID
from .openapi import write_document
from .progress import ProgressLine
from .serve_command import serve
from .session import UsageError, check_lemlist_arguments, running_stack, shown_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description="The lemlist stats export stack on this machine (embedded AWS, no Docker).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start one export and wait until it is delivered or failed")
    run.add_argument("--campaign", help="lemlist campaign id (default: the simulator's demo)")
    _lemlist_arguments(run)
    run.add_argument("--out", default="exports", help="where the local copy goes (./exports)")
    run.add_argument("--json", action="store_true", help="end stdout with one JSON object")
    serve = sub.add_parser("serve", help="serve the HTTP API (and Slack's route) on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (8787)")
    _lemlist_arguments(serve)
    sub.add_parser("openapi", help="write docs/openapi.json from the API's routes")
    return parser


def _lemlist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lemlist-url",
        help="lemlist API base, e.g. https://api.lemlist.com/api (default: embedded simulator)",
    )
    parser.add_argument("--api-key", help="lemlist API key (default: $LEMLIST_API_KEY)")
    parser.add_argument(
        "--poll-seconds",
        type=int,
        help="seconds between status checks (default: 1 with the simulator, "
        "lemlist's advice of 5 growing to 15 otherwise)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "openapi":
            out.write(f"wrote {write_document()}\n")
            return 0
        if args.command == "serve":
            return serve(args, out, err)
        return _run(args, out, err)
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        err.write("\nInterrupted; the embedded stack stops with this process.\n")
        return 130


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    api_key = check_lemlist_arguments(args)
    campaign = args.campaign
    if args.lemlist_url and not campaign:
        raise UsageError("--lemlist-url needs --campaign ID (e.g. cam_A1B2C3D4E5F6G7H8I9)")
    if campaign:
        try:
            require_lemlist_id(campaign, "--campaign")
        except ExportError as exc:
            raise UsageError(str(exc)) from None

    with running_stack(args, api_key, "run") as (stack, services, log_path):
        progress = ProgressLine(err)
        campaign_id = campaign or DEFAULT_CAMPAIGN_ID
        try:
            summary = run_export(stack, campaign_id, Path(args.out), on_change=progress.update)
        finally:
            progress.close()
        posts = services.targets.describe_posts()
    if args.json:
        _print_human(summary, posts, log_path, err)
        out.write(summary.to_json() + "\n")
    else:
        _print_human(summary, posts, log_path, out)
    return 0 if summary.delivered else 1


def _print_human(summary: ExportSummary, posts: list[str], log_path: Path, out: TextIO) -> None:
    lines = []
    if summary.exportId is None:
        lines.append(f"Export of {summary.campaignId} not started: {summary.error}")
    else:
        lines.append(f"Export {summary.exportId} {summary.status}")
        campaign = summary.campaignId
        if summary.campaignName:
            campaign = f"{summary.campaignName} ({summary.campaignId})"
        lines.append(f"  campaign     {campaign}")
        if summary.delivered:
            lines.append(f"  S3           {summary.s3Uri}")
            lines.append(f"  bytes        {summary.bytes} ({format_bytes(summary.bytes)})")
            lines.append(f"  sha256       {summary.sha256}")
            lines.append(f"  local copy   {summary.localPath}")
        else:
            lines.append(f"  reason       {summary.error}")
        lines.append(
            f"  took         {format_duration(summary.durationSeconds)}, "
            f"{summary.statusChecks or 0} status checks"
        )
        for name, outcome in summary.notifications.items():
            lines.append(f"  {name:<12} {outcome}")
        for post in posts:
            lines.append(f"  posted       {post}")
    lines.append(f"  logs         {shown_path(log_path)}")
    out.write("\n".join(lines) + "\n")
    out.flush()


if __name__ == "__main__":
    raise SystemExit(main())
