"""What every sender shares."""

from __future__ import annotations

import logging

from sqlsync.hooks.delivery import quiet_client_library


def test_a_client_librarys_logs_are_quieted_unless_the_deployment_set_their_level() -> None:
    quiet, chosen = logging.getLogger("sqlsync-test-library"), logging.getLogger("sqlsync-test-chosen")
    chosen.setLevel(logging.INFO)

    quiet_client_library("sqlsync-test-library")
    quiet_client_library("sqlsync-test-chosen")

    assert not quiet.isEnabledFor(logging.ERROR) and quiet.isEnabledFor(logging.CRITICAL)
    assert chosen.level == logging.INFO
