"""An embedded lemlist API (and a storage origin) that behaves as lemlist documents it.

Used by the local stack and the tests to run the export pipeline offline, with faults on demand.
"""

from .csv_data import BytesCsv, CsvSource, SyntheticCsv
from .faults import Fault, FaultKind
from .recording import RecordedRequest, busiest_window
from .simulator import DEFAULT_CAMPAIGN_ID, DEFAULT_CAMPAIGN_NAME, LemlistSimulator
from .state import ExportPlan, SimExport

__all__ = [
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_CAMPAIGN_NAME",
    "BytesCsv",
    "CsvSource",
    "ExportPlan",
    "Fault",
    "FaultKind",
    "LemlistSimulator",
    "RecordedRequest",
    "SimExport",
    "SyntheticCsv",
    "busiest_window",
]
