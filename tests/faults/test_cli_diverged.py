"""A diverged inference method: the whole file is kept (simulation, healthy methods, the
diverged method's history up to the divergence), one warning line per diverged method, exit 3."""

import h5py
import numpy as np
import pytest

from tests.test_cli import wi
from tests.test_plot_fixtures import PAPER
from wi.errors import EXIT_DIVERGED

SMALL = ["--set", "duration_ms=4000", "--set", "network.n_input=12", "--set", "network.n_output=3"]


@pytest.mark.parametrize(
    "bad",
    [("akrout",), ("stdwi",), ("akrout", "stdwi")],
    ids=lambda b: "+".join(b),
)
def test_run_keeps_everything_and_exits_3(tmp_path, bad):
    cfg = PAPER  # STDWI, Akrout and RDD
    out = tmp_path / "r.h5"
    sets = [x for m in bad for x in ("--set", f"infer.methods.{m}.learning_rate=1e30")]
    code, stdout, err = wi("run", cfg, "-o", out, "-q", *SMALL, *sets)
    assert code == EXIT_DIVERGED == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == len(bad), err
    for m, line in zip(sorted(bad), sorted(lines), strict=True):
        assert line.startswith(f"warning: {out}: infer.methods.{m}.learning_rate: {m}"), line
        assert "learning_rate=1e+30; lower it" in line
        assert f"{m} (diverged)" in stdout
    with h5py.File(out) as f:
        assert f.attrs["status"] == "complete"
        assert f["populations/output/spike_times_index"].shape == (3,)
        assert sorted(f["inference/input_output"]) == ["akrout", "rdd", "stdwi"]
        for m, g in f["inference/input_output"].items():
            assert bool(g.attrs["diverged"]) == (m in bad)
            w = g["weights"][()]
            assert np.isfinite(w).all() and len(w) == len(g["time_ms"])
            if m in bad:
                assert g["time_ms"][-1] < g.attrs["diverged_at_ms"] <= 4000
            else:
                assert g["time_ms"][-1] == 4000


def test_healthy_run_exits_0_without_warning(tmp_path):
    code, _, err = wi("run", PAPER, "-o", tmp_path / "r.h5", "-q", *SMALL)
    assert code == 0 and err == "", err
