"""The end of every export: record how it ended, then announce it.

Called by the state machine on both paths, and by the watchdog for executions that died
before reaching either (timed out, aborted, a failure no Catch could take).
"""

from __future__ import annotations

from .export_record import ExportRecord
from .export_store import ExportStore
from .failure_reasons import Failure
from .notifier import Notifier


def finish_export(
    export_id: str, *, failure: Failure | None, store: ExportStore, notifier: Notifier
) -> ExportRecord:
    """Mark a failure (if the export had not ended yet), announce, and record the outcomes."""
    if failure is not None:
        store.mark_failed(export_id, failure.error_type, failure.reason)
    record = store.get(export_id)
    if not record.is_final:
        # Only reachable if a caller says "delivered" for an export that was not: say so.
        store.mark_failed(
            export_id, "IncompleteExport", "The export ended without its file being delivered."
        )
        record = store.get(export_id)
    outcomes = notifier.announce(record)
    store.record_notifications(export_id, outcomes)
    return store.get(export_id)
