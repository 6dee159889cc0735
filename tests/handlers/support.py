"""Helpers for the handler tests: calling a handler, an export in flight, sample events
with live ids."""

from __future__ import annotations

import json
from typing import Any

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.records.new import new_record
from lemlist_export.workflow.contract import input_for_started
from lemlist_export.workflow.wait_policy import WaitPolicy
from local_stack.lambdas import Invocation
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import load_event


def invoke(stack: LocalStack, logical_id: str, event: dict[str, Any]) -> Invocation:
    return stack.lambdas.invoke(stack.stack.functions[logical_id].name, event)


def lemlist_export_in_flight(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> tuple[str, dict[str, Any]]:
    """An export started in lemlist and recorded, as the start handler leaves it."""
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    status = client.start_export(DEFAULT_CAMPAIGN_ID)
    record = new_record(status, source="api", now=utc_now(), retention_days=1)
    stack.store().create(record)
    return status.export_id, input_for_started(record, WaitPolicy(), record.source)


def with_ids(event: dict[str, Any], export_id: str) -> dict[str, Any]:
    """The sample event about `export_id`, started now (the samples date from their writing)."""
    text = json.dumps(event).replace("axp_Vv6lJOc8NlVVmDud5", export_id)
    event = json.loads(text)
    if "startedAt" in event:
        event["startedAt"] = iso(utc_now())
    return event


def copy_in_flight(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> tuple[str, Invocation]:
    """An export lemlist has finished, copied by the copy handler from its sample event."""
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    done = client.get_export_status(DEFAULT_CAMPAIGN_ID, export_id)
    event = with_ids(load_event("copy_export.json"), export_id)
    stack.store().record_poll(export_id, done, 1)  # what the check step records when done
    event["fileSize"] = done.file_size
    return export_id, invoke(stack, "CopyExportFunction", event)
