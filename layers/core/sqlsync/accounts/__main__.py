"""Issue, list and revoke API keys in a deployment's config table (the operator's tool).

    python -m sqlsync.accounts issue --account 7 --name "platform webhooks" --table sqlsync-prod-ConfigTable-XYZ
    python -m sqlsync.accounts list --account 7 --table ...
    python -m sqlsync.accounts revoke --account 7 --key-id 3f2a9c01b7de --table ...

--table defaults to $CONFIG_TABLE; AWS credentials and region come from the usual boto3 settings.
"""

from __future__ import annotations

import argparse
import os
import sys

from sqlsync.accounts.keys import ApiKeys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sqlsync.accounts", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["issue", "list", "revoke"])
    parser.add_argument("--account", type=int, required=True, help="the account id")
    parser.add_argument("--name", default="api key", help="what the key is for (issue)")
    parser.add_argument("--key-id", help="the public id of the key to revoke (revoke)")
    parser.add_argument(
        "--table", default=os.environ.get("CONFIG_TABLE"), help="the config table (default: $CONFIG_TABLE)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.table:
        print("accounts: give --table or set CONFIG_TABLE", file=sys.stderr)
        return 2
    if args.account < 0:
        print("accounts: --account must be 0 or more", file=sys.stderr)
        return 2
    from sqlsync.store.dynamodb import DynamoDBConfigStore

    keys = ApiKeys(DynamoDBConfigStore(args.table))
    if args.command == "issue":
        issued = keys.issue(args.account, args.name)
        print(f"key id {issued.info.id} for account {args.account} ({args.name}); shown once, keep it safe:")
        print(issued.key)
    elif args.command == "list":
        for info in keys.list(args.account):
            print(f"{info.id}  {info.created_at.isoformat()}  {info.name}")
    else:
        if not args.key_id:
            print("accounts: revoke needs --key-id", file=sys.stderr)
            return 2
        if not keys.revoke(args.account, args.key_id):
            print(f"accounts: no key {args.key_id} in account {args.account}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
