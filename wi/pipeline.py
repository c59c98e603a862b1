"""Pipelines: simulate, simulate+infer in one streaming pass, infer from a stored run.

Data flows one way: a protocol yields time chunks; the run-file writer and the inference
session consume them in order. Nothing here holds (neurons x all steps) arrays.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from wi.config import to_yaml
from wi.errors import UserError
from wi.progress import progress
from wi.store import RunWriter, atomic_path, is_complete, open_run

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


def simulate(
    cfg, out: Path, *, command: str, quiet: bool = False, chunk_ms: float = CHUNK_MS
) -> Path:
    """Simulate ``cfg`` (lif_feedforward or wiener) into the run file ``out``."""
    _run_stream(cfg, out, command=command, quiet=quiet, make_sessions=None, chunk_ms=chunk_ms)
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
    from wi.infer.driver import sessions_from_config

    _check_names(methods)  # unknown method names fail before any work

    def make_sessions(proto):
        return sessions_from_config(cfg, methods, truth=proto.weights.get("input_output"))

    summary = _run_stream(
        cfg, out, command=command, quiet=quiet, make_sessions=make_sessions, chunk_ms=chunk_ms
    )
    return Path(out), summary


def _run_stream(cfg, out: Path, *, command, quiet, make_sessions, chunk_ms) -> list[dict]:
    """Simulate into ``out``; the inference sessions (if any) eat the same chunks."""
    from wi.sim import build_protocol

    proto = build_protocol(cfg)
    sessions = make_sessions(proto) if make_sessions is not None else []
    record = bool(cfg.record.voltages)
    wanted: set[str] = set()
    if record:
        wanted |= {f"{p}/{n}" for p, names in proto.voltage_names.items() for n in names}
    for session in sessions:
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
        label = "simulate + infer" if sessions else "simulate"
        with progress(label, total_s, quiet=quiet) as bar:
            for chunk in proto.chunks(_chunk_steps(proto.timestep_ms, chunk_ms), voltages=wanted):
                writer.append(chunk)
                for session in sessions:
                    session.feed(chunk)
                bar.advance(chunk.n_steps * chunk.timestep_ms / 1000.0)
        return _write_sessions(sessions, writer.h5)


def _write_sessions(sessions, h5) -> list[dict]:
    """Close the sessions, write their results into ``h5``, release their spools."""
    rows = []
    try:
        for session in sessions:
            session.close()
            session.write(h5, overwrite=True)
            rows += session.summary()
    finally:
        for session in sessions:
            session.release()
    return rows


# ----------------------------------------------------------------------------- inference
METHODS = ("stdwi", "akrout", "rdd", "bayes")


def _check_names(methods: list[str] | None) -> None:
    import difflib

    for m in methods or []:
        if m not in METHODS:
            near = difflib.get_close_matches(m, METHODS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UserError(
                f"unknown method {m!r}{hint}; one of {', '.join(METHODS)}", file="--method"
            )


def _infer_config(run_file, path: Path, overrides: dict | None, infer_config: Path | None):
    """The config inference runs with: the run's stored config, or for external data (no
    config attribute) the paper defaults with the file's timestep and duration; then the
    ``infer:`` section of ``--config`` and the ``--set`` overrides."""
    from wi import config as config_mod

    stored = run_file.attrs.get("config")
    if stored:
        raw, source = dict(config_mod.yaml_load(stored)), f"{path} (config attribute)"
    else:
        raw = {"kind": "lif_feedforward", "timestep_ms": run_file.timestep_ms}
        raw["duration_ms"] = run_file.duration_ms
        source = str(path)
    if infer_config is not None:
        section = config_mod.read_raw(infer_config)
        extra = section.get("infer", section)
        raw["infer"] = {**(raw.get("infer") or {}), **extra}
        source = str(infer_config)
    return config_mod.validate(raw, source, overrides), bool(stored)


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
    """Add ``/inference/<method>`` results to an existing run file (atomically: the file keeps
    its previous contents if inference fails or is interrupted).

    Without ``methods``: the methods of the run's config (all four for external data) that fit
    the data in the file.
    """
    import warnings

    from wi.infer.driver import sessions_from_config

    _check_names(methods)
    path = Path(path)
    with open_run(path) as run_file:
        cfg, has_config = _infer_config(run_file, path, overrides, infer_config)
        if cfg.kind == "autoencoder":
            raise UserError(
                "an autoencoder run has no weights to infer", file=path, key="/ attrs kind"
            )
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
        if methods:
            for m in methods:
                why = _not_applicable(run_file, cfg, m)
                if why:
                    raise UserError(why, file=path, key=f"--method {m}")
        else:
            candidates = [m for m in METHODS if getattr(cfg.infer.methods, m) is not None]
            candidates = candidates if has_config else list(METHODS)
            methods = [m for m in candidates if _not_applicable(run_file, cfg, m) is None]
            for m in (m for m in candidates if m not in methods and has_config):
                warnings.warn(f"{m} skipped: {_not_applicable(run_file, cfg, m)}", stacklevel=2)
            if not methods:
                raise UserError("no inference method fits this file", file=path)
        sessions = sessions_from_config(cfg, methods, truth=truth, n_pre=n_pre, n_post=n_post)
        try:
            existing = [
                n for s in sessions for n in s.stored_names if f"inference/{n}" in run_file.h5
            ]
            if existing and not force:
                raise UserError(
                    f"already holds results of {', '.join(existing)}; use --force to replace them",
                    file=path,
                    key=f"/inference/{existing[0]}",
                )
            need = sessions[0]  # every session needs the same data
            with progress("infer", run_file.duration_ms / 1000.0, quiet=quiet) as bar:
                for chunk in run_file.iter_chunks(
                    tuple(need.populations),
                    _chunk_steps(run_file.timestep_ms, chunk_ms),
                    voltages=need.voltages,
                    marks=need.marks,
                ):
                    for session in sessions:
                        session.feed(chunk)
                    bar.advance(chunk.n_steps * chunk.timestep_ms / 1000.0)
        except BaseException:
            for session in sessions:
                session.release()
            raise
    with atomic_path(path, copy_from=path) as tmp, h5py.File(tmp, "a") as h5:
        return _write_sessions(sessions, h5)


def _not_applicable(run_file, cfg, method: str) -> str | None:
    """Why ``method`` cannot run on this file, or None."""
    if method == "rdd" and not run_file.has_voltages("input", ("voltage", "voltage_free")):
        return (
            "RDD needs the input layer's membrane (/populations/input/voltage and voltage_free): "
            "simulate with record.voltages: true (--set record.voltages=true), or use `wi run`"
        )
    if method == "bayes":
        if cfg.kind != "wiener" and run_file.attrs.get("config"):
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
        if is_complete(p):
            return p
    raise UserError("no complete run file; give RUN.h5 explicitly", file=runs_dir)
