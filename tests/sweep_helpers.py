"""Shared by the sweep tests: run `wi` in-process, write a sweep file, inject faults.

Every run file in these tests is written by the real commands (`wi run` on tiny configs). The
only test double is a fault-injection hook: a `sitecustomize.py` on PYTHONPATH that, in the
point processes, wraps the REAL `wi.pipeline.run` and, on request (flag files named after the
point's seed), raises before running, aborts the process (SIGABRT), or exits with
`wi.errors.EXIT_DIVERGED` after the real run wrote its complete file (a command that reports
divergence). It also logs every call, so tests can tell which points ran.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

FAULT_HOOK = r'''
"""Fault injection around the real wi.pipeline.run (only when WI_FAULT_DIR is set)."""
import os

if os.environ.get("WI_FAULT_DIR"):
    import sys
    from pathlib import Path

    import wi.pipeline as _pipeline

    _real_run = _pipeline.run
    _real_run_shared = _pipeline.run_shared

    def _before(cfgs):
        flags = Path(os.environ["WI_FAULT_DIR"])
        with open(flags / "calls.txt", "a") as fh:
            fh.write("".join(f"{cfg.seed}\n" for cfg in cfgs))
        with open(flags / "sims.txt", "a") as fh:
            fh.write(f"{cfgs[0].seed}\n")
        seed = cfgs[0].seed
        if (flags / f"raise-{seed}").exists():
            print("fault hook: about to fail", flush=True)
            raise RuntimeError(f"boom for seed {seed}")
        if (flags / f"abort-{seed}").exists():
            print("fault hook: about to abort", flush=True)
            os.abort()
        return flags / f"diverge-{seed}"

    def _after(flag):
        if flag.exists():
            print("fault hook: pretending an inference method diverged", flush=True)
            sys.exit(3)

    def run(cfg, out, **kwargs):
        flag = _before([cfg])
        result = _real_run(cfg, out, **kwargs)
        _after(flag)
        return result

    def run_shared(cfgs, outs, **kwargs):
        flag = _before(cfgs)
        result = _real_run_shared(cfgs, outs, **kwargs)
        _after(flag)
        return result

    _pipeline.run = run
    _pipeline.run_shared = run_shared
'''

#: A network small enough that a 200 ms point runs in about a second.
TINY = {
    "kind": "lif_feedforward",
    "duration_ms": 200,
    "network": {"n_input": 5, "n_output": 2},
    "infer": {"methods": {"stdwi": {}}},
}


def wi(*args):
    """Run `wi args` in-process: (exit code, stdout, stderr)."""
    from wi import cli
    from wi.cli import main
    from wi.reproduce import cli as reproduce_cli
    from wi.sweep import cli as sweep_cli

    o, e = io.StringIO(), io.StringIO()
    consoles = (cli.out, cli.err, sweep_cli.out, reproduce_cli.out)
    try:
        cli.out.file, cli.err.file, sweep_cli.out.file, reproduce_cli.out.file = o, e, o, o
        with redirect_stdout(o), redirect_stderr(e):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for c in consoles:
            c.file = None
    return code, o.getvalue(), e.getvalue()


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_sweep(tmp_path: Path, grid: dict, *, base: dict | None = TINY, name="t", **extra) -> Path:
    """``sweep.yaml`` (and ``base.yaml`` from ``base``) in ``tmp_path``."""
    if base is not None:
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"name": name, "command": "run", "grid": grid, **extra}
    if base is not None:
        spec["base"] = "base.yaml"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def install_faults(tmp_path: Path, monkeypatch) -> Path:
    """Point processes get the fault hook; returns its flag directory."""
    site = tmp_path / "faultsite"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAULT_HOOK)
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT)]))
    monkeypatch.setenv("WI_FAULT_DIR", str(flags))
    return flags


def calls(flags: Path) -> list[int]:
    """The seeds the hooked pipeline was called with, sorted."""
    path = flags / "calls.txt"
    return sorted(int(x) for x in path.read_text().split()) if path.exists() else []


def simulations(flags: Path) -> list[int]:
    """The seed of every simulation the hooked pipeline ran, sorted (one per call)."""
    path = flags / "sims.txt"
    return sorted(int(x) for x in path.read_text().split()) if path.exists() else []


def final_scores(run_path: Path) -> dict[str, float]:
    """``{"stdwi.pearson_r": ...}`` read straight from a run file with h5py (the oracle for
    collect): the last row of every 1-D metric and the scalar method attributes of the
    results on ``input_output`` (version 2: ``/inference/input_output/<method>``)."""
    import h5py

    out = {}
    with h5py.File(run_path, "r") as h5:
        for method, group in h5["inference/input_output"].items():
            for name, ds in group["metrics"].items():
                if ds.ndim == 1 and ds.size:
                    out[f"{method}.{name}"] = float(ds[-1])
            for name in ("time_to_r90_ms", "runtime_s"):
                if name in group.attrs:
                    out[f"{method}.{name}"] = float(group.attrs[name])
    return out
