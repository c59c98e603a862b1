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

:func:`network_file` writes a run file of several populations and projections with the real
writers (:class:`wi.store.RunWriter`, ``write_projection``, :func:`wi.store.write_result`) and
hand-made spikes and results (:class:`NetworkTruth` holds what was written).
"""

from __future__ import annotations

import io
import os
import shutil
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
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

# ----------------------------------------------------------------------------- network files
NET_DT = 0.5
NET_MS = 1000.0
#: population -> neurons; "stim" is written without spike times (record.spikes: false style)
NET_POPS = {"exc": 25, "inh": 6, "stim": 25}


class NetworkTruth:
    """What :func:`network_file` wrote, computed here by hand (the tests' oracle).

    ``mask[pre, post]`` / ``w_ee[pre, post]``: synapses of exc_exc (fixed_probability, no
    autapses); ``w_ie[post, pre]``: inh_exc (all_to_all); ``stim_exc`` one_to_one weights
    ``d``; ``spikes[pop][i]``: neuron i's spike steps; ``results[(projection, method)]``: the
    result dicts given to write_result; ``absent``: the (pre, post) absent pairs inferred."""

    def __init__(self, seed: int = 5):
        rng = np.random.default_rng(seed)
        n_e, n_i = NET_POPS["exc"], NET_POPS["inh"]
        self.mask = (rng.random((n_e, n_e)) < 0.2) & ~np.eye(n_e, dtype=bool)
        self.w_ee = np.where(self.mask, rng.normal(0.5, 0.3, (n_e, n_e)), 0.0)
        self.w_ie = -rng.uniform(0.1, 1.0, (n_e, n_i))  # (post exc, pre inh)
        self.d = np.linspace(1.0, 2.0, n_e)
        n_steps = int(NET_MS / NET_DT)
        self.spikes = {
            pop: [np.arange(i % 7, n_steps, 40 + 3 * i) for i in range(n)]
            for pop, n in NET_POPS.items()
        }
        # exc_exc: synapses + 30 absent pairs (distinct, not on the diagonal), CSR order
        absent = np.argwhere(~self.mask & ~np.eye(n_e, dtype=bool))
        absent = absent[rng.choice(len(absent), 30, replace=False)]
        self.absent = {tuple(map(int, a)) for a in absent}
        pairs = sorted({tuple(map(int, a)) for a in np.argwhere(self.mask)} | self.absent)
        pre = np.array([a for a, _ in pairs], np.int32)
        post = np.array([b for _, b in pairs], np.int32)
        exists = self.mask[pre, post]
        truth = self.w_ee[pre, post]
        n_checks = 4
        t = np.linspace(0.0, NET_MS, n_checks)
        self.results = {}
        for k, method in enumerate(("stdwi", "akrout")):
            final = (2.0 + k) * truth + 0.05 * rng.standard_normal(len(pairs))
            sampled = np.sort(rng.choice(len(pairs), 10, replace=False))
            hist = np.outer(np.linspace(0, 1, n_checks), final[sampled])
            self.results["exc_exc", method] = {
                "time_ms": t,
                "metrics": {"pearson_r": np.linspace(0.1, 0.8 - 0.1 * k, n_checks),
                            "sign_accuracy": np.linspace(0.5, 0.9, n_checks),
                            "auc_roc": np.linspace(0.5, 0.95 - 0.1 * k, n_checks),
                            "auc_pr": np.linspace(0.3, 0.7, n_checks)},
                "history": hist, "sampled": sampled, "final": final,
                "pre_index": pre, "post_index": post, "exists": exists,
                "n_pre": n_e, "n_post": n_e, "dense_all": False,
                "attrs": {"params": "x: 1\n", "runtime_s": 0.25 + k, "diverged": False,
                          "pre": "exc", "post": "exc", "time_to_r90_ms": float("nan")},
            }  # fmt: skip
        # inh_exc: every pair, dense layout
        pre_i = np.repeat(np.arange(n_i, dtype=np.int32), n_e)
        post_i = np.tile(np.arange(n_e, dtype=np.int32), n_i)
        truth_i = self.w_ie[post_i, pre_i]
        final_i = 3.0 * truth_i + 0.01 * rng.standard_normal(len(pre_i))
        self.results["inh_exc", "stdwi"] = {
            "time_ms": t, "metrics": {"pearson_r": np.linspace(0.2, 0.99, n_checks),
                                      "sign_accuracy": np.linspace(0.6, 1.0, n_checks),
                                      "auc_roc": np.full(n_checks, np.nan)},
            "history": np.outer(np.linspace(0, 1, n_checks), final_i),
            "sampled": np.arange(len(pre_i)), "final": final_i, "pre_index": pre_i,
            "post_index": post_i, "exists": np.ones(len(pre_i), bool), "n_pre": n_i,
            "n_post": n_e, "dense_all": True,
            "attrs": {"params": "x: 1\n", "runtime_s": 0.5, "diverged": False,
                      "time_to_r90_ms": 1000.0},
        }  # fmt: skip

    def projections(self):
        from wi.net.connectivity import Projection

        n_e, n_i = NET_POPS["exc"], NET_POPS["inh"]
        ee = Projection.from_dense("exc_exc", "exc", "exc", self.w_ee.T, "fixed_probability")
        ie = Projection.from_dense("inh_exc", "inh", "exc", self.w_ie, "all_to_all")
        se = Projection.from_dense("stim_exc", "stim", "exc", np.diag(self.d), "one_to_one")
        assert (ee.n_synapses, ie.n_synapses, se.n_synapses) == (
            int(self.mask.sum()),
            n_e * n_i,
            n_e,
        )
        return [ee, ie, se]


def network_file(path: Path, truth: NetworkTruth | None = None, *, results=True,
                 pops=("exc", "inh", "stim")) -> Path:  # fmt: skip
    """A run file of kind network written by the real writers (see :class:`NetworkTruth`);
    ``pops``: the populations recorded (the others are left out, as record.populations does)."""
    from wi import store
    from wi.chunk import Chunk, SpikeEvents

    truth = truth or NetworkTruth()
    n_steps = int(NET_MS / NET_DT)
    attrs = {"kind": "network", "seed": 5, "timestep_ms": NET_DT, "duration_ms": NET_MS}
    with store.RunWriter(path, config_yaml="kind: network\n", attrs=attrs, command="test",
                         n_steps=n_steps) as w:  # fmt: skip
        for pop in pops:
            w.add_population(pop, NET_POPS[pop], spikes=pop != "stim")
        for proj in truth.projections():
            w.write_projection(proj)
        spikes = {}
        for pop, trains in truth.spikes.items():
            steps = np.concatenate(trains)
            neurons = np.concatenate([np.full(len(t), i, np.int32) for i, t in enumerate(trains)])
            order = np.lexsort((neurons, steps))
            spikes[pop] = SpikeEvents(steps[order].astype(np.int64), neurons[order])
        w.append(Chunk(0, n_steps, NET_DT, spikes, {}, {}))
        if results:
            for (proj, method), res in truth.results.items():
                store.write_result(w.h5, proj, method, res)
    return path


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
