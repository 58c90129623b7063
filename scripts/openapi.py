"""Write the API's OpenAPI document (generated from the api function's routes and models) to openapi.json.

make openapi
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate() -> str:
    spec = importlib.util.spec_from_file_location("api_app", ROOT / "functions" / "api" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document: str = module.openapi_json()
    return json.dumps(json.loads(document), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = ROOT / "openapi.json"
    target.write_text(generate(), "utf-8")
    print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)
