"""Pipelines: simulate, simulate+infer in one streaming pass (inference from a stored run file:
:mod:`wi.infer_file`), and one simulation shared by several runs (:func:`run_shared`).

Data flows one way: a protocol yields time chunks; the run-file writers and the inference
sessions consume them in order. Nothing here holds (neurons x all steps) arrays. Configs that
differ only in keys the simulation never reads (:data:`NOT_SIMULATED`) have the same
:func:`simulation_key`; :func:`run_shared` simulates them once and writes each one's run file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
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
        [cfg], [out], command=command, quiet=quiet, infer=False, chunk_ms=chunk_ms, force=force
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
    _check_names(methods)  # unknown method names fail before any work
    (rows,) = _run_stream(
        [cfg],
        [out],
        command=command,
        quiet=quiet,
        infer=True,
        methods=methods,
        chunk_ms=chunk_ms,
        force=force,
    )
    return Path(out), rows


def run_shared(
    cfgs: list,
    outs: list[Path],
    *,
    command: str,
    quiet: bool = False,
    chunk_ms: float = CHUNK_MS,
    force: bool = False,
) -> list[tuple[Path, list[dict]]]:
    """Simulate ONCE and write one run file per config, each with its own inference.

    Every output is what ``wi run cfg -o out`` writes alone, dataset for dataset (root
    attributes such as ``command`` and the times differ): its own resolved config, record
    settings and inference sessions, fed the chunks of the one simulation. A method that
    diverges affects only its own output. The outputs are published when all are finished, in
    order; after an error or a signal no output is half-written (one published before a later
    one failed stays).

    Parameters
    ----------
    cfgs : list of wi.config.LIFConfig or wi.config.WienerConfig
        Resolved configs that share a simulation (:func:`simulation_key`; they may differ in
        ``infer``, ``observation_noise`` and ``record``).
    outs : list of path-like
        One run file per config (distinct).
    command : str
        Stored in each file's ``command`` attribute.
    quiet : bool
        No progress bar.
    chunk_ms : float
        Simulated ms per chunk (never changes a result).
    force : bool
        Replace existing outputs.

    Returns
    -------
    list of (Path, list of dict)
        Per output its path and its score rows (as :func:`run` returns them).

    Raises
    ------
    wi.errors.UserError
        When the configs do not share a simulation, the lists differ in length or name an
        output twice.
    """
    cfgs, outs = list(cfgs), [Path(o) for o in outs]
    if not cfgs or len(cfgs) != len(outs):
        raise UserError(f"{len(cfgs)} configs for {len(outs)} outputs", file="run-shared")
    if len({os.path.realpath(o) for o in outs}) != len(outs):
        raise UserError("an output is named twice", file="run-shared")
    first = _simulated_part(cfgs[0])
    for cfg, out in zip(cfgs[1:], outs[1:], strict=True):
        part = _simulated_part(cfg)
        differ = sorted(k for k in {*first, *part} if first.get(k) != part.get(k))
        if differ:
            raise UserError(
                f"does not share the simulation of {outs[0]}; only infer, observation_noise "
                "and record may differ",
                file=out,
                key=", ".join(differ),
            )
    rows = _run_stream(
        cfgs, outs, command=command, quiet=quiet, infer=True, chunk_ms=chunk_ms, force=force
    )
    return list(zip(outs, rows, strict=True))


# ----------------------------------------------------------------------------- simulation key
#: Top-level config keys the simulation never reads: inference (``infer``, and
#: ``observation_noise``, applied to the observed spikes only) and the writer (``record``:
#: which voltages go into the file; a stream carries every voltage any consumer asks for).
NOT_SIMULATED = ("infer", "observation_noise", "record")


def _simulated_part(cfg) -> dict:
    """The config without :data:`NOT_SIMULATED` (a model or its ``model_dump`` mapping)."""
    data = cfg.model_dump(mode="json", exclude_none=True) if hasattr(cfg, "model_dump") else cfg
    return {k: v for k, v in data.items() if k not in NOT_SIMULATED}


def simulation_key(cfg) -> str:
    """12 hex digits naming the simulation a resolved config runs.

    Two configs with the same key simulate bit-identical activity (weights, spikes,
    voltages); they may differ only in :data:`NOT_SIMULATED` keys. The SHA-1 of the canonical
    JSON of the rest of the resolved config.

    Parameters
    ----------
    cfg : pydantic config model or dict
        A validated config, or the mapping of its resolved YAML (``wi.config.to_yaml``).

    Returns
    -------
    str
        Lower-case hex, 12 characters.
    """
    text = json.dumps(_simulated_part(cfg), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- the stream
def _recorded(cfg, proto) -> tuple[list[str], set[str]]:
    """(populations whose spikes the run file stores, populations whose voltages it stores).

    Kind ``network``: ``record.populations`` and the list ``record.voltages``; the other kinds
    store every population and, with ``record.voltages: true``, every voltage."""
    voltages = cfg.record.voltages
    if isinstance(voltages, list):
        pops = cfg.record.populations
        return [p for p in proto.populations if pops is None or p in pops], set(voltages)
    return list(proto.populations), set(proto.voltage_names) if voltages else set()


def _open_writer(cfg, proto, out: Path, *, command: str, force: bool) -> RunWriter:
    """An entered :class:`RunWriter` for ``out`` with ``cfg``'s config, attributes, record
    settings, populations and true synapses (aborted again if the set-up fails)."""
    writer = RunWriter(
        out,
        config_yaml=to_yaml(cfg),
        attrs=_root_attrs(cfg),
        command=command,
        n_steps=proto.n_steps,
        overwrite=force,
        spikes=cfg.record.spikes,
    )
    writer.__enter__()
    try:
        populations, with_voltages = _recorded(cfg, proto)
        for pop in populations:
            writer.add_population(
                pop,
                proto.populations[pop],
                voltages=proto.voltage_names.get(pop, ()) if pop in with_voltages else (),
                marks=proto.mark_names.get(pop),
            )
        for projection in proto.projections.values():
            writer.write_projection(projection)
    except BaseException:
        writer.__exit__(*sys.exc_info())
        raise
    return writer


def _run_stream(
    cfgs, outs, *, command, quiet, infer, methods=None, chunk_ms, force
) -> list[list[dict]]:
    """Simulate ``cfgs[0]`` once into every output of ``outs`` (with ``infer``, each output's
    inference sessions, of ``methods`` or its config's, eat the same chunks).

    The one implementation behind :func:`simulate`, :func:`run` (one output) and
    :func:`run_shared`. Returns the score rows per output; the outputs are published in
    order once all of them are finished.
    """
    from wi.infer.driver import sessions_from_config
    from wi.sim import build_protocol

    proto = build_protocol(cfgs[0])
    sessions = [
        sessions_from_config(c, methods, projections=proto.projections) if infer else []
        for c in cfgs
    ]
    writers: list[RunWriter] = []
    try:
        for cfg, out in zip(cfgs, outs, strict=True):
            writers.append(_open_writer(cfg, proto, out, command=command, force=force))
        windows = _online_windows(sessions)  # before the voltages: they replace some
        wanted = _wanted_voltages(proto, cfgs, sessions)
        total_s = proto.n_steps * proto.timestep_ms / 1000.0
        label = "simulate + infer" if any(sessions) else "simulate"
        if len(outs) > 1:
            label += f" ({len(outs)} outputs)"
        with progress(label, total_s, quiet=quiet) as bar:
            steps = _chunk_steps(proto.timestep_ms, chunk_ms)
            for chunk in proto.chunks(steps, voltages=wanted, windows=windows):
                for writer, own in zip(writers, sessions, strict=True):
                    writer.append(chunk)
                    for session in own:
                        session.feed(chunk)
                bar.advance(chunk.n_steps * chunk.timestep_ms / 1000.0)
        rows = [
            _write_sessions(own, writer.h5) for writer, own in zip(writers, sessions, strict=True)
        ]
    except BaseException:
        exc_info = sys.exc_info()
        for writer in writers:
            writer.__exit__(*exc_info)  # removes its temporary files, releases its lock
        for own in sessions:
            for session in own:
                session.release()
        raise
    for i, writer in enumerate(writers):  # finish and publish, in order
        try:
            writer.__exit__(None, None, None)
        except BaseException:
            exc_info = sys.exc_info()
            for rest in writers[i + 1 :]:
                rest.__exit__(*exc_info)
            raise
    return rows


def _online_windows(sessions) -> dict:
    """The near-threshold window detectors the simulator runs for the estimators that can use
    them instead of voltage traces (RDD: :meth:`wi.infer.rdd.RDD.online_windows`); a session
    with observation noise too (its noise stage passes the windows through: they describe the
    membranes, not the observed spikes)."""
    windows: dict = {}
    for own in sessions:
        for session in own:
            for est in getattr(session, "estimators", {}).values():
                if hasattr(est, "online_windows"):
                    windows.update(est.online_windows())
    return windows


def _wanted_voltages(proto, cfgs, sessions) -> set[str]:
    """``"pop/name"`` of every voltage a recording config or a session needs."""
    wanted: set[str] = set()
    for cfg, own in zip(cfgs, sessions, strict=True):
        _, with_voltages = _recorded(cfg, proto)
        wanted |= {f"{p}/{n}" for p in with_voltages for n in proto.voltage_names.get(p, ())}
        for session in own:
            wanted |= {f"{p}/{n}" for p, names in session.voltages.items() for n in names}
    return wanted


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
