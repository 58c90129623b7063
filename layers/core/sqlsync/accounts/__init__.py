"""Accounts: every connector and integration belongs to one; an API key says which account a caller is."""

from sqlsync.accounts.keys import ApiKeys, IssuedKey, bearer_token

__all__ = ["ApiKeys", "IssuedKey", "bearer_token"]
