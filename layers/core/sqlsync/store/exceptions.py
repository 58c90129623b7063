"""Errors of the storage layer. Callers catch these, never boto3's, so a backend can change behind them."""

from __future__ import annotations


class StoreError(Exception):
    """The backing store refused or failed an operation; the original error is the `__cause__`."""
