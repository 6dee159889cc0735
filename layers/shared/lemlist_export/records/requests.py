"""Export requests that have not (yet) become exports, in the coordination table.

A Slack command or a schedule firing asks for an export; the state machine's first task
starts it in lemlist. The request item carries what must not travel through the execution
history (Slack's response_url is a credential) and remembers the export id lemlist gave,
so that a retried first task continues that export instead of starting a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import transient_aws_errors
from lemlist_export.core.clock import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_PREFIX = "request#"
KEEP_FOR = timedelta(days=7)


@dataclass(frozen=True)
class ExportRequest:
    request_id: str
    campaign_id: str
    source: str  # "slack" | "schedule"
    requested_at: str
    requested_by: str | None = None
    slack_response_url: str | None = field(default=None, repr=False)
    export_id: str | None = None
    # A re-drive: the failed export this request exports anew, and that export's callbackUrl
    # (a credential, like the response_url), which the new export's outcome goes to as well.
    retry_of: str | None = None
    callback_url: str | None = field(default=None, repr=False)


class RequestStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def save(self, request: ExportRequest, now: datetime) -> ExportRequest:
        """Store a new request; if one with this id exists (a duplicate trigger), keep and
        return that one."""
        item: dict[str, Any] = {
            "id": {"S": _PREFIX + request.request_id},
            "campaignId": {"S": request.campaign_id},
            "source": {"S": request.source},
            "requestedAt": {"S": request.requested_at},
            "expiration": {"N": str(int((now + KEEP_FOR).timestamp()))},
        }
        if request.requested_by:
            item["requestedBy"] = {"S": request.requested_by}
        if request.slack_response_url:
            item["slackResponseUrl"] = {"S": request.slack_response_url}
        if request.retry_of:
            item["retryOf"] = {"S": request.retry_of}
        if request.callback_url:
            item["callbackUrl"] = {"S": request.callback_url}
        try:
            with transient_aws_errors("DynamoDB PutItem"):
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(id)",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = self.find(request.request_id)
            assert existing is not None
            return existing
        return request

    def find(self, request_id: str) -> ExportRequest | None:
        with transient_aws_errors("DynamoDB GetItem"):
            item = self._db.get_item(
                TableName=self._table,
                Key={"id": {"S": _PREFIX + request_id}},
                ConsistentRead=True,
            ).get("Item")
        if not item:
            return None
        text = {name: value.get("S") for name, value in item.items()}
        return ExportRequest(
            request_id=request_id,
            campaign_id=text["campaignId"] or "",
            source=text["source"] or "",
            requested_at=text["requestedAt"] or "",
            requested_by=text.get("requestedBy"),
            slack_response_url=text.get("slackResponseUrl"),
            export_id=text.get("exportId"),
            retry_of=text.get("retryOf"),
            callback_url=text.get("callbackUrl"),
        )

    def attach_export(self, request_id: str, export_id: str) -> str:
        """Remember the export lemlist started for this request (first write wins); the
        export the request is now attached to (another one, if a concurrent start won)."""
        with transient_aws_errors("DynamoDB UpdateItem"):
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": _PREFIX + request_id}},
                UpdateExpression="SET exportId = if_not_exists(exportId, :e)",
                ExpressionAttributeValues={":e": {"S": export_id}},
                ReturnValues="ALL_NEW",
            )
        return answer.get("Attributes", {}).get("exportId", {}).get("S") or export_id


def new_request(
    request_id: str,
    campaign_id: str,
    *,
    source: str,
    now: datetime,
    requested_by: str | None = None,
    slack_response_url: str | None = None,
    retry_of: str | None = None,
    callback_url: str | None = None,
) -> ExportRequest:
    return ExportRequest(
        request_id=request_id,
        campaign_id=campaign_id,
        source=source,
        requested_at=iso(now),
        requested_by=requested_by,
        slack_response_url=slack_response_url,
        retry_of=retry_of,
        callback_url=callback_url,
    )
