"""Progress bars only on a terminal; deferred Ctrl-C raised at the next safe point."""

import os
import signal
import sys

import pytest

from wi import interrupt, progress


def test_bar_only_on_a_terminal_without_quiet(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert progress.enabled(quiet=False) and not progress.enabled(quiet=True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert not progress.enabled(quiet=False)
    with progress.progress("x", 10.0) as bar:
        assert isinstance(bar, progress._Silent)


def test_ctrl_c_is_deferred_to_the_next_progress_update():
    previous = signal.getsignal(signal.SIGINT)
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred(), progress.progress("x", 3.0, quiet=True) as bar:
            os.kill(os.getpid(), signal.SIGINT)  # lands "inside a kernel": nothing raised yet
            reached.append("after signal")
            bar.advance(1.0)  # the safe point
            reached.append("after advance")
    assert reached == ["after signal"]
    assert signal.getsignal(signal.SIGINT) is previous  # handler restored


def test_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("the second Ctrl-C should have raised")
