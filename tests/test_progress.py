"""Progress bars only on a terminal; deferred Ctrl-C raised at the next safe point."""

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
            signal.raise_signal(signal.SIGINT)  # lands "inside a kernel": nothing raised yet
            reached.append("after signal")
            bar.advance(1.0)  # the safe point
            reached.append("after advance")
    assert reached == ["after signal"]
    assert signal.getsignal(signal.SIGINT) is previous  # handler restored


def test_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            pytest.fail("the second Ctrl-C should have raised")


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_each_signal_is_deferred_and_carries_its_number(sig):
    previous = signal.getsignal(sig)
    with pytest.raises(interrupt.Interrupted) as info:
        with interrupt.deferred(), progress.progress("x", 3.0, quiet=True) as bar:
            signal.raise_signal(sig)
            bar.advance(1.0)
    assert info.value.signum == sig and interrupt.exit_code() == 128 + sig
    assert isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(sig) is previous


@pytest.mark.parametrize("times", [1, 2, 3])
def test_signals_wait_for_the_end_of_a_shielded_block(times):
    done = []
    with pytest.raises(interrupt.Interrupted):
        with interrupt.deferred():
            with interrupt.shielded():
                for _ in range(times):
                    signal.raise_signal(signal.SIGTERM)
                interrupt.check()  # not a safe point while shielded
                done.append("shielded block finished")
            interrupt.check()
    assert done == ["shielded block finished"]


def test_a_signal_pending_at_the_end_is_not_raised_but_reported():
    with interrupt.deferred():
        signal.raise_signal(signal.SIGHUP)
    assert interrupt.pending() == signal.SIGHUP and interrupt.exit_code() == 129
