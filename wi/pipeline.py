"""Pipelines: simulate, simulate+infer in one streaming pass (inference from a stored run file:
:mod:`wi.infer_file`).

Data flows one way: a protocol yields time chunks; the run-file writer and the inference
session consume them in order. Nothing here holds (neurons x all steps) arrays.
"""

from __future__ import annotations

from pathlib import Path

from wi.config import to_yaml
from wi.errors import UserError, did_you_mean
from wi.infer.params import Methods
from wi.progress import progress
from wi.store import RunWriter, is_complete

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
    cfg,
    out: Path,
    *,
    command: str,
    quiet: bool = False,
    chunk_ms: float = CHUNK_MS,
    force: bool = False,
) -> Path:
    """Simulate ``cfg`` (lif_feedforward or wiener) into the run file ``out`` (an existing
    ``out`` is replaced only with ``force``)."""
    _run_stream(
        cfg, out, command=command, quiet=quiet, make_sessions=None, chunk_ms=chunk_ms, force=force
    )
    return Path(out)


def run(
    cfg,
    out: Path,
    *,
    command: str,
    quiet: bool = False,
    methods: list[str] | None = None,
    chunk_ms: float = CHUNK_MS,
    force: bool = False,
) -> tuple[Path, list[dict]]:
    """Simulate and infer in one streaming pass; returns the run file and the score table
    (rows of a diverged method have ``diverged`` true and a ``message``)."""
    from wi.infer.driver import sessions_from_config

    _check_names(methods)  # unknown method names fail before any work

    def make_sessions(proto):
        return sessions_from_config(cfg, methods, truth=proto.weights.get("input_output"))

    summary = _run_stream(
        cfg,
        out,
        command=command,
        quiet=quiet,
        make_sessions=make_sessions,
        chunk_ms=chunk_ms,
        force=force,
    )
    return Path(out), summary


def _run_stream(cfg, out: Path, *, command, quiet, make_sessions, chunk_ms, force) -> list[dict]:
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
        overwrite=force,
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
    """Close the sessions, write their results into ``h5``, release their spools.

    Returns the score rows; a method that diverged (its history up to the divergence is
    written) has ``diverged`` true and the session's ``message`` in its row."""
    rows = []
    try:
        for session in sessions:
            session.close()
            session.write(h5, overwrite=True)
            diverged = dict(getattr(session, "diverged", []) or [])
            for row in session.summary():
                name = str(row.get("method"))
                message = diverged.get(name, diverged.get(name.removesuffix(session.suffix)))
                if message is not None:
                    row = {**row, "diverged": True, "message": message}
                    row["key"] = _diverged_key(session, name.removesuffix(session.suffix))
                rows.append(row)
    finally:
        for session in sessions:
            session.release()
    return rows


def _diverged_key(session, method: str) -> str:
    """The config key to change for a diverged method, e.g. infer.methods.akrout.learning_rate."""
    est = getattr(session, "estimators", {}).get(method)
    hint = est.divergence_hint()[0] if hasattr(est, "divergence_hint") else ""
    return f"infer.methods.{method}" + (f".{hint}" if hint else "")


# ----------------------------------------------------------------------------- inference
METHODS = tuple(Methods.model_fields)  # the configurable methods, in the paper's order


def _check_names(methods: list[str] | None) -> None:
    for m in methods or []:
        if m not in METHODS:
            raise UserError(
                f"unknown method {m!r}{did_you_mean(m, METHODS)}; one of {', '.join(METHODS)}",
                file="--method",
            )


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
