"""The HTTP API's OpenAPI document, generated from the real routes (docs/openapi.json)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .deploy import PROJECT_ROOT

DOCUMENT = PROJECT_ROOT / "docs" / "openapi.json"
API_CODE = PROJECT_ROOT / "functions" / "exports_api"


def openapi_document() -> str:
    """The document as Powertools generates it from ExportsApiFunction's resolver."""
    # Importing the handler builds AWS clients; they need a region, never a call.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The handler's module under its own name (every function's module is called `app`).
    name = "local_openapi_exports_api_app"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, API_CODE / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return str(module.app.get_openapi_json_schema(**module.openapi_settings())) + "\n"


def write_document(path: Path = DOCUMENT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_document())
    return path
