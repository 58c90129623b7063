"""API keys: shown once, kept as a hash, each acting for its account; revoked keys stop working."""

from __future__ import annotations

import pytest

from sqlsync.accounts import ApiKeys
from sqlsync.accounts.__main__ import main
from sqlsync.accounts.keys import KEY_PREFIX, digest_of
from sqlsync.store.memory import InMemoryConfigStore


def test_a_key_is_kept_as_its_hash_and_finds_its_account() -> None:
    config = InMemoryConfigStore()
    keys = ApiKeys(config)
    issued = keys.issue(7, "platform webhooks")
    assert issued.key.startswith(KEY_PREFIX) and len(issued.key) > 40
    assert issued.key not in repr(config._bodies)  # only the digest is stored
    found = keys.lookup(issued.key)
    assert found is not None and (found.account_id, found.name) == (7, "platform webhooks")
    assert found.id == digest_of(issued.key)[:12]
    assert keys.issue(7, "other").key != issued.key


@pytest.mark.parametrize("key", ["", "sqk_", "nope", "sqk_" + "x" * 43, "Bearer sqk_x", "sqk_" + "a" * 500])
def test_unknown_keys_find_nothing(key: str) -> None:
    keys = ApiKeys(InMemoryConfigStore())
    keys.issue(1, "real")
    assert keys.lookup(key) is None


def test_revoking_is_per_account_and_final() -> None:
    keys = ApiKeys(InMemoryConfigStore())
    first, second, foreign = keys.issue(1, "a"), keys.issue(1, "b"), keys.issue(2, "c")
    assert [info.name for info in sorted(keys.list(1), key=lambda info: info.name)] == ["a", "b"]
    assert not keys.revoke(2, first.info.id)  # another account cannot revoke it
    assert keys.revoke(1, first.info.id) and not keys.revoke(1, first.info.id)
    assert keys.lookup(first.key) is None
    assert keys.lookup(second.key) is not None and keys.lookup(foreign.key) is not None


def test_the_operator_cli_issues_lists_and_revokes(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    table = aws["ConfigTable"]
    assert main(["issue", "--account", "3", "--name", "crm", "--table", table]) == 0
    key = capsys.readouterr().out.splitlines()[-1]
    from sqlsync.store.dynamodb import DynamoDBConfigStore

    found = ApiKeys(DynamoDBConfigStore(table)).lookup(key)
    assert found is not None and found.account_id == 3
    assert main(["list", "--account", "3", "--table", table]) == 0
    assert found.id in capsys.readouterr().out
    assert main(["revoke", "--account", "3", "--key-id", "000000000000", "--table", table]) == 1
    assert main(["revoke", "--account", "3", "--key-id", found.id, "--table", table]) == 0
    assert ApiKeys(DynamoDBConfigStore(table)).lookup(key) is None
    assert main(["revoke", "--account", "3", "--table", table]) == 2
