"""Pipelines: simulate, simulate+infer in one streaming pass, infer from a stored run.

Data flows one way: a protocol yields time chunks; the run-file writer and the inference
session consume them in order. Nothing here holds (neurons x all steps) arrays.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from wi.config import LIFConfig, WienerConfig, to_yaml
from wi.errors import UserError
from wi.progress import progress
from wi.store import RunWriter, atomic_path, open_run

CHUNK_MS = 1000.0  # simulation chunk length; a tuning knob that never changes results


def _chunk_steps(timestep_ms: float, chunk_ms: float = CHUNK_MS) -> int:
    return max(1, int(round(chunk_ms / timestep_ms)))


def _root_attrs(cfg) -> dict:
    return {
        "kind": cfg.kind,
        "seed": int(cfg.seed),
        "timestep_ms": float(cfg.timestep_ms),
        "duration_ms": float(cfg.n_steps * cfg.timestep_ms),
    }


def _protocol_context(cfg) -> dict:
    """Protocol facts some estimators need (thresholds, PSP time constants, Wiener drift)."""
    if isinstance(cfg, WienerConfig):
        n = cfg.neuron
        return {
            "threshold": n.threshold,
            "reset": n.reset,
            "drift_per_ms": n.drift_per_ms,
            "diffusion_per_ms": n.diffusion_per_ms,
        }
    lif = cfg if isinstance(cfg, LIFConfig) else LIFConfig()
    return {
        "threshold": lif.neuron.threshold,
        "reset": lif.neuron.reset,
        "tau_slow_ms": lif.synapse.tau_slow_ms,
        "tau_fast_ms": lif.synapse.tau_fast_ms,
    }


def simulate(
    cfg, out: Path, *, command: str, quiet: bool = False, chunk_ms: float = CHUNK_MS
) -> Path:
    """Simulate ``cfg`` (lif_feedforward or wiener) into the run file ``out``."""
    _run_stream(cfg, out, command=command, quiet=quiet, make_session=None, chunk_ms=chunk_ms)
    return Path(out)


def run(
    cfg,
    out: Path,
    *,
    command: str,
    quiet: bool = False,
    methods: list[str] | None = None,
    chunk_ms: float = CHUNK_MS,
) -> tuple[Path, list[dict]]:
    """Simulate and infer in one streaming pass; returns the run file and the score table."""
    _selected(cfg, methods)  # unknown method names fail before any work

    def make_session(proto):
        return _session_from_config(cfg, methods, truth=proto.weights.get("input_output"))

    summary = _run_stream(
        cfg, out, command=command, quiet=quiet, make_session=make_session, chunk_ms=chunk_ms
    )
    return Path(out), summary


def _run_stream(cfg, out: Path, *, command, quiet, make_session, chunk_ms) -> list[dict]:
    from wi.sim import build_protocol

    proto = build_protocol(cfg)
    session = make_session(proto) if make_session is not None else None
    record = bool(cfg.record.voltages)
    wanted: set[str] = set()
    if record:
        wanted |= {f"{p}/{n}" for p, names in proto.voltage_names.items() for n in names}
    if session is not None:
        wanted |= {f"{p}/{n}" for p, names in session.voltages.items() for n in names}
    with RunWriter(
        out,
        config_yaml=to_yaml(cfg),
        attrs=_root_attrs(cfg),
        command=command,
        n_steps=proto.n_steps,
    ) as writer:
        for pop, n in proto.populations.items():
            writer.add_population(
                pop,
                n,
                voltages=proto.voltage_names.get(pop, ()) if record else (),
                marks=proto.mark_names.get(pop),
            )
        for projection, weights in proto.weights.items():
            writer.write_weights(projection, weights)
        total_s = proto.n_steps * proto.timestep_ms / 1000.0
        label = "simulate + infer" if session is not None else "simulate"
        with progress(label, total_s, quiet=quiet) as bar:
            for chunk in proto.chunks(_chunk_steps(proto.timestep_ms, chunk_ms), voltages=wanted):
                writer.append(chunk)
                if session is not None:
                    session.feed(chunk)
                bar.advance(chunk.n_steps * chunk.timestep_ms / 1000.0)
        if session is None:
            return []
        session.close()
        session.write(writer.h5)
        return session.summary()


# ----------------------------------------------------------------------------- inference
def _params_for(cfg, name: str):
    """Hyperparameters of method ``name`` from the config, or its defaults."""
    from wi.infer.params import Methods

    methods = cfg.infer.methods if cfg is not None and hasattr(cfg, "infer") else Methods()
    given = getattr(methods, name, None)
    if given is not None:
        return given
    field = Methods.model_fields[name]
    ann = [a for a in field.annotation.__args__ if a is not type(None)][0]
    return ann()


def _selected(cfg, methods: list[str] | None) -> list[str]:
    from wi.infer.params import Methods

    known = list(Methods.model_fields)
    if methods:
        for m in methods:
            if m not in known:
                import difflib

                near = difflib.get_close_matches(m, known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise UserError(
                    f"unknown method {m!r}{hint}; one of {', '.join(known)}", file="--method"
                )
        return list(dict.fromkeys(methods))
    if cfg is None or not hasattr(cfg, "infer"):
        return []
    return [m for m in known if getattr(cfg.infer.methods, m) is not None]


def _session_from_config(
    cfg, methods, truth, *, n_pre=None, n_post=None, timestep_ms=None, duration_ms=None
):
    from wi.config import ObservationNoise
    from wi.infer.driver import InferenceSession
    from wi.infer.params import InferConfig

    names = _selected(cfg, methods)
    if cfg is not None and isinstance(cfg, WienerConfig):
        n_pre = n_post = cfg.network.n_pairs
    elif cfg is not None and isinstance(cfg, LIFConfig):
        n_pre, n_post = cfg.network.n_input, cfg.network.n_output
    infer_cfg = cfg.infer if cfg is not None and hasattr(cfg, "infer") else InferConfig()
    noise = (
        cfg.observation_noise
        if cfg is not None and hasattr(cfg, "observation_noise")
        else ObservationNoise()
    )
    return InferenceSession(
        {m: _params_for(cfg, m) for m in names},
        n_pre=n_pre,
        n_post=n_post,
        timestep_ms=cfg.timestep_ms if timestep_ms is None else timestep_ms,
        duration_ms=(cfg.n_steps * cfg.timestep_ms) if duration_ms is None else duration_ms,
        check_interval_ms=infer_cfg.check_interval_ms,
        initial_guess=infer_cfg.initial_guess,
        truth=truth,
        noise=noise if noise.active else None,
        seed=cfg.seed if cfg is not None else 0,
        one_to_one=isinstance(cfg, WienerConfig),
        context=_protocol_context(cfg),
    )


def infer(
    path: Path,
    *,
    methods: list[str] | None,
    overrides: dict | None = None,
    infer_config: Path | None = None,
    force: bool = False,
    quiet: bool = False,
    chunk_ms: float = CHUNK_MS,
) -> list[dict]:
    """Add ``/inference/<method>`` results to an existing run file (atomically)."""
    from wi import config as config_mod

    path = Path(path)
    with open_run(path) as run_file:
        stored = run_file.attrs.get("config")
        raw = config_mod.yaml_load(stored) if stored else None
        extra = {}
        if infer_config is not None:
            section = config_mod.read_raw(infer_config)
            extra = section.get("infer", section) if isinstance(section, dict) else {}
        if raw is not None:
            raw = dict(raw)
            if extra:
                raw["infer"] = {**(raw.get("infer") or {}), **extra}
            cfg = config_mod.validate(raw, f"{path} (config attribute)", overrides)
        else:
            if overrides or extra:
                base = (
                    {"kind": "lif_feedforward", "infer": extra}
                    if extra
                    else {"kind": "lif_feedforward"}
                )
                base.update(
                    {"timestep_ms": run_file.timestep_ms, "duration_ms": run_file.duration_ms}
                )
                cfg_ext = config_mod.validate(base, infer_config or path, overrides)
            else:
                cfg_ext = None
            cfg = None
        for pop in ("input", "output"):
            if f"populations/{pop}" not in run_file.h5:
                raise UserError("population missing", file=path, key=f"/populations/{pop}")
        n_pre, n_post = run_file.n_neurons("input"), run_file.n_neurons("output")
        truth = run_file.weights("input_output")
        if truth is not None and truth.shape != (n_post, n_pre):
            raise UserError(
                f"shape {truth.shape} does not match (n_output, n_input) = {(n_post, n_pre)}",
                file=path,
                key="/network/input_output/weights",
            )
        if cfg is None:
            names = methods or ["stdwi", "akrout"]
            session = _external_session(cfg_ext, names, truth, n_pre, n_post, run_file)
        else:
            if not methods:
                methods = [m for m in _selected(cfg, None) if _applicable(run_file, cfg, m) is None]
                if not methods:
                    raise UserError("no inference method fits this file", file=path)
            session = _session_from_config(cfg, methods, truth)
        for m in session.methods:
            why = _applicable(run_file, cfg, m)
            if why:
                raise UserError(why, file=path, key=f"--method {m}")
        existing = [m for m in session.methods if f"inference/{m}" in run_file.h5]
        if existing and not force:
            raise UserError(
                f"already holds results of {', '.join(existing)}; use --force to replace them",
                file=path,
                key=f"/inference/{existing[0]}",
            )
        chunk_steps = _chunk_steps(run_file.timestep_ms, chunk_ms)
        total_s = run_file.duration_ms / 1000.0
        with progress("infer", total_s, quiet=quiet) as bar:
            for chunk in run_file.iter_chunks(
                tuple(session.populations),
                chunk_steps,
                voltages=session.voltages,
                marks=session.marks,
            ):
                session.feed(chunk)
                bar.advance(chunk.n_steps * chunk.timestep_ms / 1000.0)
        session.close()
    with atomic_path(path, copy_from=path) as tmp, h5py.File(tmp, "a") as h5:
        for m in session.methods:
            if f"inference/{m}" in h5:
                del h5[f"inference/{m}"]
        session.write(h5)
    return session.summary()


def _external_session(cfg_ext, names, truth, n_pre, n_post, run_file):
    session_cfg = cfg_ext
    from wi.infer.driver import InferenceSession
    from wi.infer.params import InferConfig

    infer_cfg = session_cfg.infer if session_cfg is not None else InferConfig()
    return InferenceSession(
        {m: _params_for(session_cfg, m) for m in _selected(session_cfg, names)},
        n_pre=n_pre,
        n_post=n_post,
        timestep_ms=run_file.timestep_ms,
        duration_ms=run_file.duration_ms,
        check_interval_ms=infer_cfg.check_interval_ms,
        initial_guess=infer_cfg.initial_guess,
        truth=truth,
        noise=None,
        seed=0,
        one_to_one=False,
        context=_protocol_context(session_cfg),
    )


def _applicable(run_file, cfg, method: str) -> str | None:
    """Why ``method`` cannot run on this file, or None."""
    if method == "rdd" and not run_file.has_voltages("input", ("voltage", "voltage_free")):
        return (
            "RDD needs the input layer's membrane (/populations/input/voltage and voltage_free); "
            "simulate with record.voltages: true (--set record.voltages=true) or use `wi run`"
        )
    if method == "bayes":
        if cfg is not None and not isinstance(cfg, WienerConfig):
            return f"the Bayesian hitting-time estimator needs a wiener run, this is {cfg.kind}"
        if "populations/input/target_voltage" not in run_file.h5:
            return "the Bayesian estimator needs /populations/input/target_voltage (a wiener run)"
    return None


def newest_run(runs_dir: Path = Path("runs")) -> Path:
    """The newest complete run file in ``runs_dir``."""
    candidates = sorted(
        (p for p in Path(runs_dir).glob("*.h5") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for p in candidates:
        try:
            with h5py.File(p, "r") as h5:
                if h5.attrs.get("status") in ("complete", b"complete"):
                    return p
        except OSError:
            continue
    raise UserError("no complete run file; give RUN.h5 explicitly", file=runs_dir)
