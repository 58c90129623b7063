"""Write the HTTP API's OpenAPI document to openapi.json: the documents Powertools generates from the routes
and models of each HTTP function (api, ingest, customers), merged (sqlsync.api.openapi).

make openapi
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_FUNCTIONS = ("api", "ingest", "customers")


def generate() -> str:
    from sqlsync.api.openapi import HTTP_API_INFO, document, merged

    documents = []
    for name in HTTP_FUNCTIONS:
        spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        documents.append(document(module.app, HTTP_API_INFO))
    return json.dumps(merged(documents), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = ROOT / "openapi.json"
    target.write_text(generate(), "utf-8")
    print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)
