"""The README's NWB example, run as printed: a recording written with plain pynwb, as an
outside user would, goes through `wi infer` with stdwi, ccg and glm, and every method finds
the two injected connections (the issue's "done means" for recordings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    m = re.search(r"\*\*NWB in\.\*\*.*?```python\n(.*?)```", text, re.S)
    assert m, "the NWB example is missing from the README"
    return m.group(1)


def trains(seed: int, duration_s: float = 120.0):
    """Six units: 1 repeats 50 % of 0's spikes 1-4 ms later, 3 repeats 50 % of 2's; the rest
    (and the other spikes) are independent Poisson trains."""
    rng = np.random.default_rng(seed)

    def poisson(rate):
        return np.sort(rng.uniform(0, duration_s, rng.poisson(rate * duration_s)))

    def driven_by(src):
        copy = src[rng.random(len(src)) < 0.5] + rng.uniform(0.001, 0.004)
        both = np.sort(np.concatenate([poisson(6.0), copy]))
        return both[both < duration_s]

    u0, u2 = poisson(15.0), poisson(15.0)
    return [u0, driven_by(u0), u2, driven_by(u2), poisson(10.0), poisson(10.0)]


def test_the_example_is_about_ten_lines():
    code = [ln for ln in readme_example().splitlines() if ln.strip()]
    assert len(code) <= 16


@pytest.mark.parametrize("seed", [1, 2])
def test_readme_recording_goes_through_wi_infer_with_stdwi_ccg_and_glm(tmp_path, seed):
    known_pairs = [(0, 1, 1.0), (2, 3, 1.0)]
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(readme_example(), "README.md", "exec"),  # noqa: S102
             {"spike_trains_s": trains(seed), "known_pairs": known_pairs})  # fmt: skip
    finally:
        os.chdir(old)
    rec = tmp_path / "recording.nwb"
    before = rec.read_bytes()
    out = tmp_path / "out.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "wi", "infer", str(rec), "-m", "stdwi", "-m", "ccg", "-m", "glm",
         "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert rec.read_bytes() == before  # the recording is not modified
    with h5py.File(out, "r") as h5:
        for method in ("stdwi", "ccg", "glm"):
            g = h5[f"inference/units_units/{method}"]
            pairs = list(zip(g["pre_index"][:], g["post_index"][:], strict=True))
            assert len(pairs) == 30 and not any(a == b for a, b in pairs)  # no self-pairs
            est = g["final_weights"][:]
            top2 = {pairs[k] for k in np.argsort(-est)[:2]}
            assert top2 == {(0, 1), (2, 3)}, (method, est)
            assert g["metrics/auc_roc"][-1] == 1.0
            assert g["metrics/mcc"][-1] == 1.0
