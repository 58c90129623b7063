"""Preview from the command line: render an integration's template for a platform event file, print the SQL.

    make preview ARGS="events/platform/profiles_added.json"
    python -m sqlsync.local.preview --config examples/integrations.yaml --integration demo \\
        --template my.sql events/platform/profiles_added.json

Nothing connects to the target; the output is the statements each chunk would run, in order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from sqlsync.models.integrations import IntegrationIn
from sqlsync.models.preview import PreviewIn, PreviewOut
from sqlsync.sync.exceptions import InvalidIntegrationError
from sqlsync.sync.preview import preview

_EVENT_FIELDS = ("type", "segment", "profiles", "occurred_at")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sqlsync.local.preview", description=__doc__.split("\n")[0])
    parser.add_argument("event", type=Path, help="a platform event as POST /v1/events takes it (JSON)")
    parser.add_argument("--config", type=Path, default=Path("examples/integrations.yaml"), help="integrations file")
    parser.add_argument("--integration", help="the integration's name in the file (default: the first)")
    parser.add_argument("--template", type=Path, help="SQL to render instead of the integration's template")
    parser.add_argument("--json", action="store_true", help="print the preview as the API returns it")
    return parser.parse_args(argv)


def load_integration(config: Path, name: str | None) -> tuple[IntegrationIn, int]:
    """The integration of the file (the first, or the one named) and its account (`account_id`, default 1)."""
    entries = yaml.safe_load(config.read_text("utf-8")) or []
    chosen = [entry for entry in entries if name is None or entry.get("name") == name]
    if not chosen:
        raise ValueError(f"{config}: no integration named {name!r}")
    entry = dict(chosen[0])
    account_id = int(entry.pop("account_id", 1))
    return IntegrationIn.model_validate(entry), account_id


def render_text(result: PreviewOut) -> str:
    lines = [f"-- {result.template} ({result.dialect}, {result.mode}) for {result.event_type.value}"]
    for number, chunk in enumerate(result.chunks, 1):
        profiles = ", ".join(chunk.profiles) or "no profiles"
        lines.append(f"-- chunk {number}: {profiles}")
        lines += (
            [f"-- would fail: {chunk.error}"] if chunk.error else [f"{statement};" for statement in chunk.statements]
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        integration, account_id = load_integration(args.config, args.integration)
        event = json.loads(args.event.read_text("utf-8"))
        request = PreviewIn.model_validate(
            {
                **{key: event[key] for key in _EVENT_FIELDS if key in event},
                **({"template": args.template.read_text("utf-8")} if args.template else {}),
            }
        )
        result = preview(integration, request, account_id=account_id)
    except (OSError, ValueError, ValidationError, InvalidIntegrationError) as exc:
        print(f"preview: {exc}", file=sys.stderr)
        return 2
    print(result.model_dump_json(indent=2) if args.json else render_text(result))
    return 0 if all(chunk.error is None for chunk in result.chunks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
