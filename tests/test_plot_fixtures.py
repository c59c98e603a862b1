"""Run files and sweep tables for the plot tests, written by the real writers.

Every file here comes from the ``wi`` command line run in-process (``wi run``, ``wi simulate``,
``wi infer``, ``wi autoencoder``, ``wi sweep`` + ``wi collect``) on tiny configs, so the plot
tests see exactly the layout, attributes and column names production writes (docs/run-file.md).
Files are built once per test session (:func:`real`) and shared: tests that change a file copy
it first (:func:`copy_of`).

Names (``real(factory, name)``):

- ``paper``: ``wi run configs/paper.yaml`` 3 s (STDWI, Akrout, RDD);
- ``spikes``: ``wi simulate configs/paper.yaml`` 3 s (no inference);
- ``rdd``: ``wi simulate ... record.voltages=true`` then ``wi infer --method rdd``;
- ``noise``: ``wi run configs/noise.yaml`` 3 s (clean and ``_noisy`` results);
- ``wiener``: ``wi run configs/wiener.yaml`` 3 s, 12 pairs (Bayes, STDWI; one-to-one);
- ``ae_single``, ``ae_tuning``, ``ae_tilt``: ``wi autoencoder`` on :data:`AE_CONFIG`;
- ``sweep_infer``: ``wi collect`` of a seed x ``tau_fast_ms`` sweep (STDWI, Akrout) whose point
  (seed 2, tau 40) fails on purpose (its output path is taken by a directory);
- ``sweep_seeds``: ``wi collect`` of a seeds-only sweep (the paper_seeds shape);
- ``long``: ``wi simulate configs/paper.yaml`` 200 s (about a million spikes);
- ``sweep_ae``: ``wi collect`` of a seed x ``network.eta`` autoencoder sweep (random decoders).
"""

from __future__ import annotations

import io
import os
import shutil
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "configs" / "paper.yaml"
DURATION_MS = 3000
SWEEP_TAUS = (10, 40)
FAILED_POINT = {"seed": 2, "infer.methods.stdwi.tau_fast_ms": 40}
SWEEP_ETAS = (0, 10)
LONG_MS = 200_000

AE_CONFIG = {
    "kind": "autoencoder",
    "seed": 1,
    "duration_ms": 400,
    "timestep_ms": 0.01,
    "network": {"ring": {"n_orientations": 12, "weight_norms": [3, 9]}},
    "stimulus": {"orientation_deg": 80, "magnitude": 50, "start_ms": 100, "stop_ms": 350},
    "record": {"sample_ms": 0.5, "summary_window_ms": 100},
    "tuning": {"adaptor_orientation_deg": 90, "adaptor_ms": 200, "test_ms": 50,
               "n_test_orientations": 6},
    "tilt": {"adaptor_orientation_deg": 90, "adaptor_ms": 200, "test_ms": 50, "n_offsets": 6},
}  # fmt: skip

_CACHE: dict[str, Path] = {}


class WiFailed(AssertionError):
    pass


def wi(*args) -> str:
    """Run ``wi args`` in-process; returns its output, raises WiFailed on a non-zero exit."""
    from wi import cli
    from wi.sweep import cli as sweep_cli

    o = io.StringIO()
    consoles = (cli.out, cli.err, sweep_cli.out)
    saved = warnings.showwarning
    code = 0
    try:
        cli.out.file = cli.err.file = sweep_cli.out.file = o
        with redirect_stdout(o), redirect_stderr(o):
            try:
                cli.main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        warnings.showwarning = saved
        for c in consoles:
            c.file = None
    if code not in (0, None):
        raise WiFailed(f"wi {' '.join(map(str, args))} exited {code}:\n{o.getvalue()}")
    return o.getvalue()


def real(factory, name: str) -> Path:
    """The file ``name`` (see the module docstring), built once per test session: under
    pytest-xdist the workers share one build (a file lock in the session's common temp dir)."""
    if name in _CACHE:
        return _CACHE[name]
    from filelock import FileLock

    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    d = root / f"real-{name}"
    with FileLock(f"{d}.lock"):
        marker = d / "built.txt"
        if marker.exists():
            path = Path(marker.read_text())
        else:
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            path = BUILDERS[name](d)
            marker.write_text(str(path))
    _CACHE[name] = path
    return path


def copy_of(factory, name: str, dest: Path) -> Path:
    """A private copy of a real file, for tests that change it."""
    return Path(shutil.copy(real(factory, name), dest))


def _sets(**kv) -> list[str]:
    return [x for k, v in kv.items() for x in ("--set", f"{k.replace('__', '.')}={v}")]


def _paper(d: Path) -> Path:
    out = d / "paper.h5"
    wi("run", PAPER, "-o", out, "--quiet", *_sets(duration_ms=DURATION_MS))
    return out


def _spikes(d: Path) -> Path:
    out = d / "spikes.h5"
    wi("simulate", PAPER, "-o", out, "--quiet", *_sets(duration_ms=DURATION_MS))
    return out


def _rdd(d: Path) -> Path:
    out = d / "rdd.h5"
    sets = _sets(duration_ms=DURATION_MS, record__voltages="true")
    wi("simulate", PAPER, "-o", out, "--quiet", *sets)
    wi("infer", out, "--method", "rdd", "--quiet")
    return out


def _noise(d: Path) -> Path:
    out = d / "noise.h5"
    wi("run", ROOT / "configs" / "noise.yaml", "-o", out, "--quiet",
       *_sets(duration_ms=DURATION_MS))  # fmt: skip
    return out


def _wiener(d: Path) -> Path:
    out = d / "wiener.h5"
    wi("run", ROOT / "configs" / "wiener.yaml", "-o", out, "--quiet",
       *_sets(duration_ms=DURATION_MS, network__n_pairs=12))  # fmt: skip
    return out


def _ae_config(d: Path, **changes) -> Path:
    cfg = {**AE_CONFIG, **changes}
    path = d / "ae.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _ae(experiment: str):
    def build(d: Path) -> Path:
        out = d / f"ae_{experiment}.h5"
        changes = {}
        if experiment == "tilt":  # no linear cost, as configs/autoencoder_tilt.yaml
            changes["network"] = {**AE_CONFIG["network"], "eta": 0}
        cfg = _ae_config(d, **changes)
        wi("autoencoder", cfg, "-o", out, "--experiment", experiment, "--quiet")
        return out

    return build


def _sweep(d: Path, spec: dict, fail: dict | None = None) -> Path:
    """``wi sweep`` then ``wi collect``; the point whose params match ``fail`` cannot write
    its run file (a non-empty directory sits at its path), so it fails inside the real task."""
    from wi.sweep import layout

    path = d / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = d / "sweep"
    wi("sweep", path, "--out", out, "--dry-run", "--quiet")
    if fail is not None:
        (point,) = [p for p in layout.read_manifest(out)["points"] if p["params"] == fail]
        (layout.point_dir(out, point["id"]) / layout.OUTPUT / "in-the-way").mkdir(parents=True)
    try:
        wi("sweep", path, "--out", out, "--quiet", "--jobs", "2")
    except WiFailed as exc:
        if fail is None or "exited 101" not in str(exc):  # 100 + one failed point
            raise
    table = d / "table.csv"
    wi("collect", out, "-o", table)
    return table


def _sweep_infer(d: Path) -> Path:
    spec = {
        "name": "infer",
        "base": str(PAPER),
        "command": "run",
        "set": {"duration_ms": 2000, "network.n_input": 20, "network.n_output": 4,
                "infer.methods.rdd": None},
        "grid": {"seed": [1, 2], "infer.methods.stdwi.tau_fast_ms": list(SWEEP_TAUS)},
    }  # fmt: skip
    return _sweep(d, spec, FAILED_POINT)


def _sweep_seeds(d: Path) -> Path:
    spec = {
        "name": "seeds",
        "base": str(PAPER),
        "command": "run",
        "set": {"duration_ms": 2000, "network.n_input": 20, "network.n_output": 4,
                "infer.methods.rdd": None},
        "grid": {"seed": [1, 2]},
    }  # fmt: skip
    return _sweep(d, spec)


def _long(d: Path) -> Path:
    out = d / "long.h5"
    wi("simulate", PAPER, "-o", out, "--quiet", *_sets(duration_ms=LONG_MS))
    return out


def _sweep_ae(d: Path) -> Path:
    base = _ae_config(d, network={"random": {"n_neurons": 24, "n_dims": 2}})
    spec = {
        "name": "ae",
        "base": str(base),
        "command": "autoencoder",
        "experiment": "single",
        "grid": {"seed": [1, 2], "network.eta": list(SWEEP_ETAS)},
    }
    return _sweep(d, spec)


BUILDERS = {
    "paper": _paper,
    "spikes": _spikes,
    "rdd": _rdd,
    "noise": _noise,
    "wiener": _wiener,
    "ae_single": _ae("single"),
    "ae_tuning": _ae("tuning"),
    "ae_tilt": _ae("tilt"),
    "sweep_infer": _sweep_infer,
    "sweep_seeds": _sweep_seeds,
    "sweep_ae": _sweep_ae,
    "long": _long,
}
