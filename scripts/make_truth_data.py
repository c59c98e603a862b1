"""Make the two small ground-truth recordings in ``tests/data/`` (NWB, known connectivity).

``truth_wi_ei.nwb``
    A recurrent E/I network simulated by ``wi`` itself (kind ``network``, the config
    :data:`WI_CONFIG` below): 80 excitatory + 20 inhibitory LIF neurons, each driven by its own
    ~40 of 1000 independent Poisson sources (20 Hz; the sources are not recorded: a hidden
    input, as in a real recording), recurrent Erdős-Rényi projections (exc -> * p = 0.1,
    inh -> * p = 0.2, lognormal weights, Dale's law: inhibitory weights negative), fast
    double-exponential synapses (tau 5 / 1 ms). 120 s. Units 0-79 are ``exc``, 80-99 ``inh``.
``truth_brian2_adex.nwb``
    A network made with Brian2, from a different model than any ``wi`` kernel: adaptive
    exponential integrate-and-fire neurons (AdEx, Brette & Gerstner 2005,
    doi:10.1152/jn.00686.2005) with conductance-based exponential synapses (reversal potentials
    0 and -80 mV), 100 excitatory (adapting, tau_w 150 ms) + 25 inhibitory (fast-spiking, no
    adaptation), random sparse recurrent projections (p = 0.05, few strong synapses), independent Poisson drive
    (``PoissonInput``), exact integration of the conductances, forward Euler for the membrane,
    dt 0.1 ms, 120 s. Units 0-99 ``exc``, 100-124 ``inh``.

Both files follow the ``wi`` recording convention (docs/recordings.md): spikes in the NWB
``Units`` table (seconds, float64; column ``population``: ``exc`` or ``inh``), the true
connectivity as a
``DynamicTable`` named ``ground_truth_connectivity`` in the file's scratch space, with columns
``pre_unit``, ``post_unit`` (row indices of the Units table) and ``weight`` (the model's units,
signed: negative for inhibitory synapses; only existing synapses are listed). The synapses
onto the recorded neurons from the hidden Poisson sources are not listed (their sources are
not units). ``truth_wi_ei.nwb`` is written by ``wi export`` (it also holds the run's config
as the scratch text ``wi_config``); ``truth_brian2_adex.nwb`` with plain pynwb
(:func:`write_nwb`; its Units table also has a ``cell_type`` column).

Regenerate (from the repository root; each takes well under a minute on one core)::

    .venv/bin/python scripts/make_truth_data.py wi
    .venv-oracle/bin/python scripts/make_truth_data.py brian2   # needs brian2 (extra: oracle)

``--out DIR`` writes elsewhere (default ``tests/data``), ``--force`` replaces existing files.
Deterministic: the ``wi`` network from its config seed (bit-identical spikes on any machine);
the Brian2 network from ``brian2.seed`` with the Cython code-generation target (identical on
one platform and Brian2 version; the tests check counts and rate ranges, not exact spikes).
NWB files carry random object ids, so two runs differ in those bytes only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
WI_NAME = "truth_wi_ei.nwb"
BRIAN2_NAME = "truth_brian2_adex.nwb"

#: The ``wi`` network of ``truth_wi_ei.nwb`` (kind ``network``; see docs/networks.md).
#: Measured (seed 12, 120 s): exc ~10 Hz, inh ~26 Hz, asynchronous; the fast synapses and the
#: sparse, independent drive make the recurrent synapses visible to a cross-correlogram.
WI_CONFIG = """\
kind: network
seed: 12
duration_ms: 120000
timestep_ms: 0.25
populations:
  stim: {model: poisson, n: 1000, rate_hz: 20, period_ms: 1000, fraction_active: 1.0}
  exc: {model: lif, n: 80}
  inh: {model: lif, n: 20, tau_ms: 10}
projections:
  stim_exc: {pre: stim, post: exc, connectivity: {rule: fixed_probability, p: 0.04},
             weights: {dist: lognormal, mean: 2.0, sd: 1.0}}
  stim_inh: {pre: stim, post: inh, connectivity: {rule: fixed_probability, p: 0.04},
             weights: {dist: lognormal, mean: 2.0, sd: 1.0}}
  exc_exc: {pre: exc, post: exc, connectivity: {rule: fixed_probability, p: 0.1},
            weights: {dist: lognormal, mean: 10.0, sd: 5.0}}
  exc_inh: {pre: exc, post: inh, connectivity: {rule: fixed_probability, p: 0.1},
            weights: {dist: lognormal, mean: 10.0, sd: 5.0}}
  inh_exc: {pre: inh, post: exc, connectivity: {rule: fixed_probability, p: 0.2},
            weights: {dist: lognormal, mean: 40.0, sd: 20.0, sign: negative}}
  inh_inh: {pre: inh, post: inh, connectivity: {rule: fixed_probability, p: 0.2},
            weights: {dist: lognormal, mean: 40.0, sd: 20.0, sign: negative}}
synapse: {tau_slow_ms: 5, tau_fast_ms: 1}
record: {populations: [exc, inh], voltages: [], spikes: true}
"""

#: Fixed session start (NWB requires one; a constant keeps the files reproducible).
SESSION_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def write_nwb(
    path: Path,
    *,
    trains_s: list[np.ndarray],
    populations: list[str],
    pre: np.ndarray | None,
    post: np.ndarray | None,
    weight: np.ndarray | None,
    weight_unit: str,
    description: str,
    identifier: str,
    duration_s: float,
    resolution_s: float,
    force: bool = False,
) -> Path:
    """Write spikes and true connectivity as an NWB file, the ``wi`` recording convention.

    Parameters
    ----------
    path : Path
        Output file (written to a temporary name, then renamed).
    trains_s : list of ndarray
        Spike times of each unit (s, float64, sorted).
    populations : list of str
        Population of each unit (``exc`` / ``inh``): columns ``population`` and ``cell_type``.
    pre, post : ndarray of int, shape (n_synapses,), or None
        Unit indices of each true synapse (None: no ground-truth table, a plain recording).
    weight : ndarray of float, shape (n_synapses,)
        Signed weight of each synapse (negative: inhibitory), in ``weight_unit``.
    weight_unit : str
        What the weight is (stored in the table's description).
    description, identifier : str
        NWB session description and identifier.
    duration_s : float
        Length of the recording (s): the ``stop_time`` of the one epoch written.
    resolution_s : float
        Time resolution of the spike times (s; the simulation step).
    force : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    if path.exists() and not force:
        raise SystemExit(f"{path} exists; use --force to replace it")
    nwb = NWBFile(
        session_description=description,
        identifier=identifier,
        session_start_time=SESSION_START,
        source_script=f"scripts/make_truth_data.py ({Path(sys.executable).name})",
        source_script_file_name="make_truth_data.py",
        experiment_description="Simulated spiking network with known synapses (scratch: "
        "ground_truth_connectivity), a benchmark of weight inference",
        keywords=["simulation", "spiking network", "ground truth", "weight inference"],
        subject=Subject(
            subject_id=identifier,
            description="a simulated network; no animal was recorded",
            species="in silico",
            sex="U",
            date_of_birth=SESSION_START,
        ),
    )
    nwb.units = Units(name="units", description="simulated neurons", resolution=float(resolution_s))
    nwb.add_epoch(start_time=0.0, stop_time=float(duration_s), tags=["recording"])
    nwb.add_unit_column("population", "population the unit belongs to (exc or inh)")
    nwb.add_unit_column("cell_type", "excitatory (exc) or inhibitory (inh) neuron")
    for train, pop in zip(trains_s, populations, strict=True):
        nwb.add_unit(spike_times=np.asarray(train, np.float64), population=pop, cell_type=pop)
    units = nwb.units
    units.spike_times.set_data_io(H5DataIO, {"compression": "gzip", "shuffle": True})
    if pre is not None:
        nwb.add_scratch(_truth_table(pre, post, weight, weight_unit))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.nwb", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _truth_table(pre, post, weight, weight_unit: str):
    """The ``ground_truth_connectivity`` DynamicTable (rows sorted by pre, then post unit)."""
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import DynamicTable, VectorData

    order = np.lexsort((post, pre))
    return DynamicTable(
        name="ground_truth_connectivity",
        description=(
            f"true synapses between units (pre_unit -> post_unit, row indices of the Units "
            f"table); weight in {weight_unit}, negative for inhibitory; pairs not listed "
            "have no synapse"
        ),
        columns=[
            VectorData(
                name="pre_unit",
                description="presynaptic unit (row of the Units table)",
                data=H5DataIO(np.asarray(pre, np.int64)[order], compression="gzip"),
            ),
            VectorData(
                name="post_unit",
                description="postsynaptic unit (row of the Units table)",
                data=H5DataIO(np.asarray(post, np.int64)[order], compression="gzip"),
            ),
            VectorData(
                name="weight",
                description=f"signed synaptic weight ({weight_unit})",
                data=H5DataIO(np.asarray(weight, np.float64)[order], compression="gzip"),
            ),
        ],
    )


def make_wi(out: Path, force: bool = False) -> Path:
    """Simulate :data:`WI_CONFIG` (``wi simulate``) and export it (``wi export``, i.e.
    :func:`wi.nwb.export.export_run`) as ``truth_wi_ei.nwb``.

    The export writes one unit per recorded neuron (``exc`` then ``inh``; columns
    ``population`` and ``neuron``) and the true synapses of every projection between recorded
    populations as ``ground_truth_connectivity`` (with a ``projection`` column); the Poisson
    sources are not recorded, so their projections are not listed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "truth_wi_ei.yaml"
        cfg.write_text(WI_CONFIG)
        run = Path(tmp) / "run.h5"
        wi = [sys.executable, "-m", "wi"]
        subprocess.run([*wi, "simulate", str(cfg), "-o", str(run), "-q"], check=True)
        path = out / WI_NAME
        out.mkdir(parents=True, exist_ok=True)
        force_flag = ["--force"] if force else []
        subprocess.run([*wi, "export", str(run), "-o", str(path), *force_flag], check=True)
    return path


#: Parameters of the Brian2 AdEx network (SI via brian2 units inside :func:`make_brian2`).
ADEX = {
    "n_exc": 100,
    "n_inh": 25,
    "p": 0.05,
    "duration_s": 120.0,
    "dt_ms": 0.1,
    "seed": 2026,
    # drive: each neuron gets its own Poisson input of n_in sources at rate_in
    "n_in": 100,
    "rate_in_hz": 20.0,
    "w_in_ns": 0.55,
    # recurrent conductance increments (nS), lognormal with sd = mean / 2
    "w_exc_ns": 5.0,
    "w_inh_ns": 16.0,
}


def make_brian2(out: Path, force: bool = False) -> Path:
    """Simulate the AdEx network with Brian2 and write ``truth_brian2_adex.nwb``.

    Equations (Brette & Gerstner 2005, doi:10.1152/jn.00686.2005), per neuron::

        C dv/dt = -gL (v - EL) + gL DeltaT exp((v - VT) / DeltaT) - w
                  + ge (Ee - v) + gi (Ei - v)
        tau_w dw/dt = a (v - EL) - w
        dge/dt = -ge / tau_e,   dgi/dt = -gi / tau_i
        v > VT + 5 DeltaT:  v = Vr, w += b

    A presynaptic spike adds its weight (nS) to ge (excitatory) or gi (inhibitory) after a
    1.5 ms delay. Excitatory neurons adapt (a = 2 nS, b = 40 pA, tau_w = 150 ms), inhibitory
    ones do not (fast-spiking: C 100 pF, tau_m 10 ms).
    """
    import brian2 as b2
    from brian2 import amp, ms, mV, nS, pF, second

    p = ADEX
    b2.prefs.codegen.target = "cython"
    b2.prefs.logging.console_log_level = "WARNING"
    b2.seed(p["seed"])
    rng = np.random.default_rng(p["seed"])
    n_exc, n_inh = p["n_exc"], p["n_inh"]
    n = n_exc + n_inh
    b2.defaultclock.dt = p["dt_ms"] * ms
    eqs = """
    dv/dt = (-gL*(v - EL) + gL*DeltaT*exp((v - VT)/DeltaT) - w
             + ge*(Ee - v) + gi*(Ei - v)) / C : volt (unless refractory)
    dw/dt = (a*(v - EL) - w) / tau_w : amp
    dge/dt = -ge / tau_e : siemens
    dgi/dt = -gi / tau_i : siemens
    C : farad
    gL : siemens
    a : siemens
    b : amp
    tau_w : second
    """
    ns = {
        "EL": -70 * mV,
        "VT": -50 * mV,
        "DeltaT": 2 * mV,
        "Ee": 0 * mV,
        "Ei": -80 * mV,
        "tau_e": 5 * ms,
        "tau_i": 10 * ms,
        "Vr": -60 * mV,
    }
    g = b2.NeuronGroup(
        n,
        eqs,
        threshold="v > VT + 5*DeltaT",
        reset="v = Vr; w += b",
        refractory=2 * ms,
        method="euler",
        namespace=ns,
    )
    g.C = 200 * pF
    g.gL = 10 * nS  # tau_m 20 ms
    g.a[:n_exc] = 2 * nS
    g.b[:n_exc] = 40e-12 * amp
    g.tau_w[:n_exc] = 150 * ms
    g.C[n_exc:] = 100 * pF  # tau_m 10 ms
    g.a[n_exc:] = 0 * nS
    g.b[n_exc:] = 0 * amp
    g.tau_w[n_exc:] = 150 * ms
    g.v = (-70 + 10 * rng.random(n)) * mV
    drive = b2.PoissonInput(g, "ge", p["n_in"], p["rate_in_hz"] * b2.Hz, weight=p["w_in_ns"] * nS)

    # the true connectivity, drawn here (numpy, seeded): each ordered pair, no autapses
    mask = rng.random((n, n)) < p["p"]
    np.fill_diagonal(mask, False)
    pre, post = np.nonzero(mask)
    mean = np.where(pre < n_exc, p["w_exc_ns"], p["w_inh_ns"])
    sigma = np.sqrt(np.log1p(0.25))  # lognormal with sd = mean / 2
    mag = mean * rng.lognormal(-0.5 * sigma**2, sigma, size=len(pre))
    ex = pre < n_exc
    syn_e = b2.Synapses(g, g, "w_syn : siemens", on_pre="ge_post += w_syn", delay=1.5 * ms)
    syn_e.connect(i=pre[ex], j=post[ex])
    syn_e.w_syn = mag[ex] * nS
    syn_i = b2.Synapses(g, g, "w_syn : siemens", on_pre="gi_post += w_syn", delay=1.5 * ms)
    syn_i.connect(i=pre[~ex], j=post[~ex])
    syn_i.w_syn = mag[~ex] * nS
    mon = b2.SpikeMonitor(g)
    net = b2.Network(g, drive, syn_e, syn_i, mon)
    net.run(p["duration_s"] * second)
    trains = [np.asarray(t / second, np.float64) for t in mon.spike_trains().values()]
    weight = np.where(ex, mag, -mag)
    labels = ["exc"] * n_exc + ["inh"] * n_inh
    return write_nwb(
        out / BRIAN2_NAME,
        trains_s=trains,
        populations=labels,
        pre=pre,
        post=post,
        weight=weight,
        weight_unit="nS (peak conductance increment; negative: inhibitory, reversal -80 mV)",
        description=("Brian2 AdEx network (100 exc + 25 inh), conductance synapses, Poisson drive"),
        identifier="wi-truth-brian2-adex-v1",
        duration_s=p["duration_s"],
        resolution_s=p["dt_ms"] / 1000.0,
        force=force,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["wi", "brian2"], help="which dataset to make")
    ap.add_argument("--out", type=Path, default=DATA, help="output directory (tests/data)")
    ap.add_argument("--force", action="store_true", help="replace an existing file")
    args = ap.parse_args(argv)
    make = make_wi if args.which == "wi" else make_brian2
    path = make(args.out, force=args.force)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
