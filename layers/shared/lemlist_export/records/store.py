"""Export records in DynamoDB, one item per export, statuses moved by conditional writes.

Every status change names the statuses it may come from, so a retried or duplicated step
can never move a record backwards (a late poll cannot reopen a delivered export).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import transient_aws_errors
from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.errors import ExportNotFoundError, InvalidTransitionError
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.records.page_tokens import page_key, page_token
from lemlist_export.records.record import (
    COPY_AGAIN,
    DELIVERED,
    DELIVERING,
    FAILED,
    PENDING,
    ExportRecord,
    NotificationOutcome,
    Progress,
)
from lemlist_export.storage.s3_upload import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


CAMPAIGN_INDEX = "byCampaign"
# A sparse index: an export is in it (openShard = "open") from its creation until it ends.
OPEN_INDEX = "openExports"
OPEN = "open"
_OPEN_KEYS = ("openShard", "openedAt")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ExportStore:
    def __init__(self, dynamodb: DynamoDBClient, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # -- reads -------------------------------------------------------------------------

    def find(self, export_id: str) -> ExportRecord | None:
        answer = self._call(
            "GetItem",
            self._db.get_item,
            TableName=self._table,
            Key=_key(export_id),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return ExportRecord.from_dict(_from_item(item)) if item else None

    def get(self, export_id: str) -> ExportRecord:
        record = self.find(export_id)
        if record is None:
            raise ExportNotFoundError(f"No export {export_id} is recorded")
        return record

    def list_by_campaign(
        self, campaign_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[ExportRecord], str | None]:
        """A campaign's exports, newest first, and the token for the next page (or None)."""
        args: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CAMPAIGN_INDEX,
            "KeyConditionExpression": "campaignId = :c",
            "ExpressionAttributeValues": {":c": {"S": campaign_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            args["ExclusiveStartKey"] = page_key(after, campaign_id)
        answer = self._call("Query", self._db.query, **args)
        records = [ExportRecord.from_dict(_from_item(item)) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return records, (page_token(last) if last else None)

    # -- writes ------------------------------------------------------------------------

    def create(self, record: ExportRecord) -> None:
        """Insert a new record; a second insert of the same export id is refused."""
        # The notifications map exists from the start so that outcomes can be SET inside it.
        # Open (pending) exports enter the sweeper's index; a refused start is born failed.
        opened = {} if record.is_final else _open(record.created_at)
        item = _to_item({"notifications": {}, **record.to_dict(), **opened})
        try:
            self._call(
                "PutItem",
                self._db.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(exportId)",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise InvalidTransitionError(
                    f"Export {record.export_id} is already recorded"
                ) from None
            raise

    def record_poll(self, export_id: str, status: ExportStatus, poll_count: int) -> bool:
        """Store what a status check saw; False if the record already moved past pending."""
        # lemlist reports progress 0 of 0 once done: record only the step, not a false 0/0.
        progress = Progress(status.progress, status.total, status.progress_type or status.status)
        if not status.is_pending:
            progress = Progress(step=status.progress_type or status.status)
        values: dict[str, Any] = {
            "progress": asdict(progress),
            "pollCount": poll_count,
            "lastPolledAt": self._now(),
        }
        if status.campaign_name:
            values["campaignName"] = status.campaign_name
        if status.file_size is not None:
            values["fileSize"] = status.file_size
        if status.url:
            values["downloadUrl"] = status.url
        if status.status not in ("pending", "done"):
            # lemlist documents no reason for an error: keep everything it said.
            values["lemlistStatus"] = status.raw
        return self._update(export_id, values, allowed_from=(PENDING,), strict=False)

    def begin_delivery(self, export_id: str) -> None:
        """pending -> delivering (delivering -> delivering for a retried delivery)."""
        self._update(export_id, {"status": DELIVERING}, allowed_from=(PENDING, DELIVERING))

    def mark_delivered(self, export_id: str, stored: StoredObject) -> ExportRecord:
        """delivering -> delivered; repeating it for the same object is a no-op (a retried
        copy step that already finished once)."""
        values = {
            "status": DELIVERED,
            "s3Uri": stored.uri,
            "bucket": stored.bucket,
            "key": stored.key,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
            "deliveredAt": self._now(),
        }
        try:
            self._update(export_id, values, allowed_from=(DELIVERING,), remove=_OPEN_KEYS)
        except InvalidTransitionError:
            record = self.get(export_id)
            same = (record.key, record.sha256) == (stored.key, stored.sha256)
            if record.status == DELIVERED and same:
                return record
            raise
        return self.get(export_id)

    def record_query_copy(self, export_id: str, uri: str, rows: int, size: int) -> ExportRecord:
        """A delivered export's query-ready copy was written (any earlier failure is gone)."""
        values = {"queryCopyUri": uri, "queryCopyRows": rows, "queryCopyBytes": size}
        self._update(export_id, values, allowed_from=(DELIVERED,), remove=("queryCopyError",))
        return self.get(export_id)

    def record_query_copy_failure(self, export_id: str, reason: str) -> ExportRecord:
        """A delivered export's query-ready copy could not be written: why (the CSV stands)."""
        self._update(export_id, {"queryCopyError": reason}, allowed_from=(DELIVERED,))
        return self.get(export_id)

    def mark_failed(self, export_id: str, failure_type: str, reason: str) -> bool:
        """pending/delivering -> failed; False if the export had already ended."""
        values = {
            "status": FAILED,
            "failureType": failure_type,
            "failureReason": reason,
            "failedAt": self._now(),
        }
        return self._update(
            export_id, values, allowed_from=(PENDING, DELIVERING), strict=False, remove=_OPEN_KEYS
        )

    def open_exports(self, opened_before: str) -> Iterator[tuple[ExportRecord, str]]:
        """Exports still pending or delivering that opened before `opened_before` (ISO time),
        with when they opened, oldest first, from the sparse index only open exports are in
        (the sweeper's list)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#shard = :open AND #opened < :before",
            "ExpressionAttributeNames": {"#shard": "openShard", "#opened": "openedAt"},
            "ExpressionAttributeValues": _to_item({":open": OPEN, ":before": opened_before}),
        }
        while True:
            page = self._call("Query", self._db.query, **query)
            for item in page.get("Items", []):
                record = self.find(item["exportId"]["S"])
                if record is not None and not record.is_final:
                    yield record, item["openedAt"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def follow_execution(self, export_id: str, execution_name: str) -> bool:
        """An open export is run by the execution `execution_name` from now on (the sweeper
        resumes it under a new name); False if it ended meanwhile."""
        return self._update(
            export_id,
            {"executionName": execution_name},
            allowed_from=(PENDING, DELIVERING),
            strict=False,
        )

    def claim_retry(
        self,
        export_id: str,
        *,
        retry: int,
        action: str,
        entry: dict[str, Any],
        slack_response_url: str | None = None,
    ) -> bool:
        """Claim retry number `retry` of a failed export; False if it is not failed any more
        or another retry claimed that number first (the caller reads the record again).

        COPY_AGAIN moves the record back to pending under the retry's execution: the failure
        moves into the retry history, the notifications start afresh (the end of the retry is
        announced like any end). NEW_EXPORT leaves it failed: the export the retry starts is
        linked to it (`link_retry`). A retry asked from Slack answers in that Slack channel.
        """
        now = self._now()
        names = {
            "#status": "status",
            "#count": "retryCount",
            "#action": "retryAction",
            "#history": "retryHistory",
            "#updated": "updatedAt",
        }
        values: dict[str, Any] = {
            ":failed": FAILED,
            ":n": retry,
            ":action": action,
            ":entry": [entry],
            ":none": [],
            ":now": now,
        }
        sets = [
            "#count = :n",
            "#action = :action",
            "#history = list_append(if_not_exists(#history, :none), :entry)",
            "#updated = :now",
        ]
        removes = ["retriedAs"]
        if action == COPY_AGAIN:
            names.update({"#execution": "executionName", "#notifications": "notifications"})
            values.update({":pending": PENDING, ":execution": entry["executionName"], ":empty": {}})
            sets += ["#status = :pending", "#execution = :execution", "#notifications = :empty"]
            # Open again: in the sweeper's index until this retry ends.
            names.update({"#shard": "openShard", "#opened": "openedAt"})
            values.update({":open": OPEN})
            sets += ["#shard = :open", "#opened = :now"]
            removes += ["failedAt", "failureType", "failureReason", "lemlistStatus"]
            if slack_response_url:
                names.update({"#slack": "slackResponseUrl", "#asked": "requestedAt"})
                values[":slack"] = slack_response_url
                sets += ["#slack = :slack", "#asked = :now"]
        if retry == 1:
            previous = "(attribute_not_exists(#count) OR #count = :previous)"
        else:
            previous = "#count = :previous"
        values[":previous"] = retry - 1
        try:
            self._call(
                "UpdateItem",
                self._db.update_item,
                TableName=self._table,
                Key=_key(export_id),
                UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                ConditionExpression=(
                    f"attribute_exists(exportId) AND #status = :failed AND {previous}"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item(values),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def link_retry(self, export_id: str, new_export_id: str) -> None:
        """Point a failed export at the export its NEW_EXPORT retry started (`retriedAs`)."""
        self._call(
            "UpdateItem",
            self._db.update_item,
            TableName=self._table,
            Key=_key(export_id),
            UpdateExpression="SET #as = :as, #u = :u",
            ConditionExpression="attribute_exists(exportId)",
            ExpressionAttributeNames={"#as": "retriedAs", "#u": "updatedAt"},
            ExpressionAttributeValues=_to_item({":as": new_export_id, ":u": self._now()}),
        )

    def record_notifications(self, export_id: str, outcomes: Iterable[NotificationOutcome]) -> None:
        """Remember, per target, whether the final announcement went out."""
        names = {"#n": "notifications", "#u": "updatedAt"}
        values: dict[str, Any] = {":u": self._now()}
        sets = ["#u = :u"]
        for index, outcome in enumerate(outcomes):
            names[f"#t{index}"] = outcome.target
            values[f":t{index}"] = outcome.to_dict()
            sets.append(f"#n.#t{index} = :t{index}")
        if len(sets) == 1:
            return
        # The map is created with the record, so nested SETs always have a parent.
        self._call(
            "UpdateItem",
            self._db.update_item,
            TableName=self._table,
            Key=_key(export_id),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(exportId)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_to_item(values),
        )

    # -- plumbing ----------------------------------------------------------------------

    def _update(
        self,
        export_id: str,
        values: dict[str, Any],
        *,
        allowed_from: tuple[str, ...],
        strict: bool = True,
        remove: tuple[str, ...] = (),
    ) -> bool:
        values = {**values, "updatedAt": self._now()}
        names = {f"#f{i}": name for i, name in enumerate(values)}
        placeholders = {f":v{i}": value for i, value in enumerate(values.values())}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        if remove:
            names.update({f"#r{i}": name for i, name in enumerate(remove)})
            sets += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        allowed = {f":s{i}": status for i, status in enumerate(allowed_from)}
        condition = f"#status IN ({', '.join(allowed)})"
        try:
            self._call(
                "UpdateItem",
                self._db.update_item,
                TableName=self._table,
                Key=_key(export_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression=f"attribute_exists(exportId) AND {condition}",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues=_to_item({**placeholders, **allowed}),
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            current = self.get(export_id)  # raises ExportNotFoundError if missing
            if strict:
                target = values.get("status", "updated")
                raise InvalidTransitionError(
                    f"Export {export_id} is {current.status}; it cannot become {target}"
                ) from None
            return False
        return True

    @staticmethod
    def _call(operation: str, method: Any, **kwargs: Any) -> Any:
        with transient_aws_errors(f"DynamoDB {operation}"):
            return method(**kwargs)

    @staticmethod
    def _now() -> str:
        return iso(utc_now())


def _open(since: str) -> dict[str, str]:
    """The attributes that put an export in the sparse index of open exports."""
    return {"openShard": OPEN, "openedAt": since}


def _key(export_id: str) -> dict[str, Any]:
    return {"exportId": {"S": export_id}}


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    # DynamoDB takes numbers as Decimal; a JSON round trip converts floats anywhere inside.
    plain = json.loads(json.dumps(values), parse_float=Decimal)
    return {name: _serializer.serialize(value) for name, value in plain.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
