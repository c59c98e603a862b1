"""Commands that run no kernel load no kernel: ``wi --version``, ``--help`` and ``wi validate``.

Not a timing test: each command runs in a fresh interpreter that writes the names of the
modules it loaded (``sorted(sys.modules)``, from an ``atexit`` hook, so after the command has
exited) to a file, and the test asserts that numba, h5py, matplotlib and scipy (each of which
costs a large part of a second to import) are not among them. It fails as soon as one of them
is imported at the top of a module that these commands load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numba", "h5py", "matplotlib", "scipy", "pynwb", "hdmf", "pandas")

WRAPPER = r"""
import atexit, json, sys
out, entry, args = sys.argv[1], sys.argv[2], sys.argv[3:]

def _dump():
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)

atexit.register(_dump)
if entry == "entry":
    from wi.entry import main
else:
    from wi.cli import main  # the console script's entry point
main(args)
"""


def run_wi(tmp_path: Path, *args: str, entry: str = "entry") -> tuple[set[str], str, int]:
    """Run ``wi ARGS`` in a fresh interpreter; return the top-level packages it loaded, its
    stdout and its exit code."""
    dump = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(dump), entry, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    loaded = {name.partition(".")[0] for name in json.loads(dump.read_text())}
    return loaded, proc.stdout, proc.returncode


def heavy(loaded: set[str]) -> list[str]:
    return sorted(set(HEAVY) & loaded)


@pytest.mark.parametrize("entry", ["entry", "cli"])
@pytest.mark.parametrize(
    "config, kind", [("paper.yaml", "lif_feedforward"), ("wiener.yaml", "wiener")]
)
def test_validate_loads_no_kernel(tmp_path, entry, config, kind):
    loaded, out, code = run_wi(tmp_path, "validate", f"configs/{config}", entry=entry)
    assert code == 0
    assert out.startswith(f"ok: configs/{config}: kind {kind},"), out
    assert heavy(loaded) == []


def test_validate_autoencoder_loads_no_kernel(tmp_path):
    loaded, out, code = run_wi(tmp_path, "validate", "configs/autoencoder.yaml", "--show")
    assert code == 0
    assert "kind: autoencoder" in out and "ok: configs/autoencoder.yaml" in out
    assert heavy(loaded) == []


def test_version_loads_neither_kernels_nor_typer(tmp_path):
    from wi import __version__

    loaded, out, code = run_wi(tmp_path, "--version")
    assert (code, out) == (0, f"wi {__version__}\n")
    assert heavy(loaded) == []
    assert {"typer", "rich", "pydantic", "numpy"} & loaded == set()


def test_version_through_the_console_script_entry_point(tmp_path):
    from wi import __version__

    loaded, out, code = run_wi(tmp_path, "--version", entry="cli")
    assert (code, out) == (0, f"wi {__version__}\n")
    assert heavy(loaded) == []


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["run", "--help"]])
def test_help_loads_no_kernel(tmp_path, args):
    loaded, out, code = run_wi(tmp_path, *args)
    assert code == 0
    assert "Usage" in out
    assert heavy(loaded) == []
    assert "numpy" not in loaded


def test_a_bad_config_is_still_one_line_without_kernels(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: lif_feedforward\nneuron: {treshold: 1}\n")
    dump = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(dump), "entry", "validate", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {bad}: neuron.treshold: unknown key (did you mean 'threshold'?)"
    ]
    assert heavy({n.partition(".")[0] for n in json.loads(dump.read_text())}) == []


def test_validate_of_a_run_file_reads_it_with_h5py(tmp_path):
    """The check works: a run file is HDF5, so validating it must load h5py (and only then)."""
    run = tmp_path / "small.h5"
    sim = subprocess.run(
        [sys.executable, "-m", "wi", "simulate", "configs/paper.yaml", "-o", str(run), "-q"]
        + ["--set", "duration_ms=20", "--set", "seed=7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sim.returncode == 0, sim.stderr
    loaded, out, code = run_wi(tmp_path, "validate", str(run))
    assert code == 0
    assert out.startswith(f"ok: {run}: kind lif_feedforward, 80 steps"), out
    assert "h5py" in loaded
    assert "numba" not in loaded


def test_the_hdf5_signature_is_the_store_s():
    """wi.config recognises a run file without importing wi.store (h5py): same signature."""
    from wi import config, store

    assert config._HDF5_MAGIC == store.HDF5_MAGIC
