"""Golden runs: ``wi simulate`` writes the same bytes as the recorded reference.

``tests/data/sim_golden.json`` holds, per case, the ``wi simulate`` arguments and the sha256 of
every dataset under ``populations/`` (spike times, index, float32 voltages, Wiener marks) of
the run file they produced before the simulator's kernels were refactored. Any change of a
spike, of a voltage's float32 rounding, or of a random stream fails here. Regenerate the file
only for a deliberate change of the simulated model, and say so in the commit.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((Path(__file__).parent / "data" / "sim_golden.json").read_text())


def _digests(path: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    sha, shape = {}, {}

    def visit(name, obj):
        # spike_count (derived from the spikes, added to the layout later) is not in the record
        if (
            isinstance(obj, h5py.Dataset)
            and name.startswith("populations/")
            and not name.endswith("/spike_count")
        ):
            a = obj[()]
            sha[name] = hashlib.sha256(a.tobytes()).hexdigest()
            shape[name] = list(a.shape)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sha, shape


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_wi_simulate_output_is_bit_identical_to_the_recorded_run(case, tmp_path):
    want = GOLDEN[case]
    out = tmp_path / f"{case}.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "wi", "simulate", *want["argv"], "-o", str(out), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    sha, shape = _digests(out)
    assert shape == want["shape"]
    changed = sorted(name for name in want["sha256"] if sha.get(name) != want["sha256"][name])
    assert not changed, f"datasets differ from the golden run: {changed}"
