"""A command that fails on bad input leaves nothing behind, not even the output's directory:
the output check only looks at the nearest existing directory; the writer makes the missing
ones when it writes (wi.store.atomic_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.test_bad_config import SMALL_LIF, assert_one_line_error, wi_subprocess
from wi.errors import UserError, require_writable_dir


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_bad_input_after_the_output_check_leaves_no_directory(tmp_path):
    """wi simulate with an output in a new directory and a bad --set value."""
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    code, _, err = wi_subprocess(tmp_path, "simulate", "c.yaml", "-o", "new/sub/r.h5",
                                 "--set", "stimulation.fraction_active=0.0001")  # fmt: skip
    assert_one_line_error(code, err, "c.yaml", "stimulation.fraction_active")
    assert _tree(tmp_path) == {"c.yaml"}


def test_a_bad_recording_selection_leaves_no_directory(tmp_path):
    nwb = Path(__file__).resolve().parents[1] / "data" / "truth_wi_ei.nwb"
    code, _, err = wi_subprocess(tmp_path, "infer", str(nwb), "--pre", "nosuch=1",
                                 "-o", "new/o.h5")  # fmt: skip
    assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert _tree(tmp_path) == set()


def test_a_good_run_makes_the_missing_directories(tmp_path):
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    code, _, err = wi_subprocess(tmp_path, "simulate", "c.yaml", "-o", "new/sub/r.h5", "-q")
    assert code == 0, err
    assert _tree(tmp_path) == {"c.yaml", "new", "new/sub", "new/sub/r.h5"}


def test_the_check_alone_creates_nothing_and_refuses_what_cannot_be_made(tmp_path):
    require_writable_dir(tmp_path / "a" / "b", create=False)
    assert _tree(tmp_path) == set()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        require_writable_dir(tmp_path / "file" / "b", create=False)
    with pytest.raises(UserError, match="output directory is a file"):
        require_writable_dir(tmp_path / "file", create=False)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="not writable"):
            require_writable_dir(locked / "b", create=False)
