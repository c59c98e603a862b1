"""Observation noise and RDD's online windows: the noise stage re-blocks the chunks and passes
the simulator's near-threshold windows through (they describe membranes, not observed spikes).
Oracle: `wi infer` of the stored voltage traces (the trace path of the same rule), with the
same noise config and seed."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from wi import config, pipeline
from wi.infer_file import infer as infer_file


@pytest.mark.parametrize("seed", [1, 3])
def test_noisy_rdd_from_online_windows_equals_rdd_from_stored_traces(seed, tmp_path):
    raw = {
        "kind": "lif_feedforward",
        "seed": seed,
        "duration_ms": 12000.0,
        "record": {"voltages": True},
        "observation_noise": {"drop_prob": 0.2, "add_fraction": 0.2, "jitter_ms": 1.0,
                              "compare_clean": True},
    }  # fmt: skip
    cfg = config.validate(raw)
    online, _ = pipeline.run(cfg, tmp_path / "online.h5", command="t", quiet=True,
                             methods=["rdd"])  # fmt: skip
    traces = tmp_path / "traces.h5"
    infer_file(online, methods=["rdd"], overrides=None, infer_config=None, force=True,
               quiet=True, output=traces, command="t")  # fmt: skip
    with h5py.File(online, "r") as a, h5py.File(traces, "r") as b:
        for name in ("rdd", "rdd_noisy"):
            wa = a[f"inference/input_output/{name}/weights"][()]
            wb = b[f"inference/input_output/{name}/weights"][()]
            np.testing.assert_array_equal(wa, wb)
            assert np.abs(wa[-1] - wa[0]).max() > 1e-4  # RDD learnt
        clean = a["inference/input_output/rdd/weights"][-1]
        noisy = a["inference/input_output/rdd_noisy/weights"][-1]
        assert not np.array_equal(clean, noisy)  # the noise reached RDD's post spikes
