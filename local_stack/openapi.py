"""The HTTP API's OpenAPI document, generated from the real routes (docs/openapi.json)."""

from __future__ import annotations

import os
from pathlib import Path

from .deploy import PROJECT_ROOT
from .lambdas import LocalFunction, load_module

DOCUMENT = PROJECT_ROOT / "docs" / "openapi.json"
API_CODE = PROJECT_ROOT / "functions" / "exports_api"


def openapi_document() -> str:
    """The document as Powertools generates it from ExportsApiFunction's resolver."""
    # Importing the handler builds AWS clients; they need a region, never a call.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    function = LocalFunction(
        "ExportsApiFunction", "openapi", "", API_CODE, "app.lambda_handler", 30, 256
    )
    module = load_module(function, "app")
    return module.app.get_openapi_json_schema(**module.OPENAPI) + "\n"


def write_document(path: Path = DOCUMENT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_document())
    return path
