"""The pipeline's shorter GIL switch interval: set for its length, then put back."""

from __future__ import annotations

import sys

import pytest

from sqlsync.gil import PROMPT_SWITCH_SECONDS, prompt_handoffs


def test_the_switch_interval_is_shorter_only_inside() -> None:
    before = sys.getswitchinterval()
    assert before > PROMPT_SWITCH_SECONDS
    with prompt_handoffs():
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SWITCH_SECONDS)
        with prompt_handoffs(PROMPT_SWITCH_SECONDS * 2):  # a longer one inside never lengthens it
            assert sys.getswitchinterval() == pytest.approx(PROMPT_SWITCH_SECONDS)
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SWITCH_SECONDS)
    assert sys.getswitchinterval() == before


def test_it_is_put_back_after_an_error() -> None:
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), prompt_handoffs():
        raise RuntimeError("boom")
    assert sys.getswitchinterval() == before
