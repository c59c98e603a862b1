"""``wi infer RECORDING.nwb``: infer the weights between recorded units.

One pass over the recording: the selected units' spike times are streamed in time chunks
(:meth:`wi.nwb.reader.Recording.chunks`, bounded memory) into the inference sessions
(:mod:`wi.infer.driver`) and into a new run file (:class:`wi.store.RunWriter`, schema version
2, written to a temporary name and published in one step; an existing file needs ``force``).
The NWB file is opened read-only and never modified.

Populations and the projection. ``--pre`` and ``--post`` select units
(:meth:`~wi.nwb.reader.Recording.select`). The same units for both (e.g. ``--pre all --post
all``) make ONE population and a projection onto itself, ``<name>_<name>`` (``units_units``):
a unit's "connection to itself" is never a candidate pair (neither learnt nor scored).
Disjoint selections make two populations and the projection ``<pre>_<post>``. Selections that
overlap without being equal are refused (the self-pairs of the shared units could not be left
out).

Pairs. With a ground-truth table the synapses are the listed pairs of nonzero weight (NaN:
an unknown pair, learnt but never scored), and every other candidate pair is an absent pair
(weight 0), all of them up to :data:`MAX_ALL_PAIRS` candidates (beyond that a sample of
``infer.absent_pairs``). Without ground truth every candidate pair is learnt, and nothing is
scored.

Methods. By default every registered method that can work on spike times alone (as ``wi
infer`` does for external data); a method that cannot (it needs membrane voltages, per-spike
marks, or a protocol fact a recording does not give such as the stimulus period) is skipped with
a one-line warning, or refused with a one-line error when asked for with ``-m``.
"""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from wi.errors import UserError
from wi.infer.driver import InferenceSession
from wi.pipeline import CHUNK_MS, METHODS, _check_names, _chunk_steps, _write_sessions
from wi.progress import progress

#: Candidate pairs up to which every absent pair is learnt (beyond: ``infer.absent_pairs``).
MAX_ALL_PAIRS = 1 << 24
#: Kind attribute of a run file written from a recording.
KIND = "recording"


class _RecordingSession(InferenceSession):
    """A session whose pairs may carry no truth at all (a recording without ground truth):
    then nothing is scored and no metrics are written. The pairs are given as a projection
    (so that a unit's pair with itself can be left out), whose weights are NaN."""

    def __init__(self, *args, truth_known: bool, **kwargs):
        self._truth_known = bool(truth_known)
        super().__init__(*args, **kwargs)
        if not self._truth_known:
            self.has_truth = False

    def score(self, w, *args, **kwargs):
        return super().score(w, *args, **kwargs) if self._truth_known else None


def default_output(path: str | Path) -> Path:
    """``<recording stem>-wi.h5`` next to the recording."""
    path = Path(path)
    return path.with_name(f"{path.stem}-wi.h5")


def infer_recording(
    path,
    *,
    pre: str = "all",
    post: str = "all",
    methods: list[str] | None = None,
    output=None,
    force: bool = False,
    overrides: dict | None = None,
    infer_config=None,
    timestep_ms: float = 0.25,
    quiet: bool = True,
    command: str = "",
    chunk_ms: float = CHUNK_MS,
) -> tuple[Path, list[dict]]:
    """Infer the weights between the units of an NWB recording into a new run file.

    Parameters
    ----------
    path : path
        The NWB file (opened read-only, never modified).
    pre, post : str
        Unit selections: ``all``, index ranges ``0-99,120-139`` or ``COLUMN=VALUE``.
    methods : list of str, optional
        Method names (default: every method that works on spike times alone).
    output : path, optional
        The run file to write (default ``<stem>-wi.h5`` next to the recording).
    force : bool
        Replace an existing ``output``.
    overrides : dict, optional
        ``--set`` overrides (``infer.*`` and ``observation_noise.*`` only).
    infer_config : path, optional
        A YAML file with the ``infer`` (and ``observation_noise``) section.
    timestep_ms : float
        Time step (ms) the spike times are binned at.
    quiet : bool
        No progress bar.
    command : str
        The command stored in the run file (default ``wi infer PATH -o OUTPUT``).
    chunk_ms : float
        Length of the streamed chunks (ms; memory, never results).

    Returns
    -------
    output : Path
        The run file written.
    rows : list of dict
        One summary row per method (:meth:`InferenceSession.summary`).
    """
    from wi.infer_file import check_output_path
    from wi.nwb.reader import open_recording
    from wi.store import RunWriter

    _check_names(methods)
    path = Path(path)
    try:
        dt = float(timestep_ms)
    except (TypeError, ValueError):
        raise UserError(f"must be a number, got {timestep_ms!r}", file="--timestep-ms") from None
    if not np.isfinite(dt) or dt <= 0:
        raise UserError(
            f"must be a positive finite number, got {timestep_ms}", file="--timestep-ms"
        )
    output = check_output_path(path, output if output is not None else default_output(path), force)
    with open_recording(path) as rec:
        pre_name, pre_units = rec.select(pre, option="--pre")
        post_name, post_units = rec.select(post, option="--post")
        same = np.array_equal(pre_units, post_units)
        if not same:
            shared = np.intersect1d(pre_units, post_units)
            if len(shared):
                raise UserError(
                    f"the --pre and --post units overlap ({len(shared)} shared, e.g. unit "
                    f"{shared[0]}) without being the same; select disjoint units or the same "
                    "units for both",
                    file=path,
                    key="--post",
                )
            if pre_name == post_name:
                pre_name, post_name = f"{pre_name}-pre", f"{post_name}-post"
        else:
            post_name = pre_name
        name = f"{pre_name}_{post_name}"
        if same and len(pre_units) == 1:
            raise UserError(
                f"no candidate pair: --pre and --post select the same single unit "
                f"({pre_units[0]}), and a unit's connection to itself is never inferred",
                file=path,
                key="--post",
            )
        n_steps = rec.n_steps(dt)
        duration_ms = n_steps * dt
        cfg = _config(path, dt, duration_ms, overrides, infer_config)
        params = _method_params(cfg, _user_keys(overrides, infer_config))
        truth = rec.ground_truth()
        proj, n_dropped = _projection(
            name, pre_name, post_name, pre_units, post_units, same, truth, rec.n_units
        )
        n_pre, n_post = len(pre_units), len(post_units)
        n_candidates = n_pre * n_post - (n_pre if same else 0)
        absent = 0
        if truth is not None:
            absent = n_candidates if n_candidates <= MAX_ALL_PAIRS else int(cfg.infer.absent_pairs)
        chosen = _choose_methods(path, cfg, params, methods, dt, duration_ms, pre_name, post_name)
        _check_history(cfg, path, duration_ms, n_candidates)
        session = _RecordingSession(
            {m: params.get(m) for m in chosen},
            timestep_ms=dt,
            duration_ms=duration_ms,
            check_interval_ms=cfg.infer.check_interval_ms,
            initial_guess=cfg.infer.initial_guess,
            noise=getattr(cfg, "observation_noise", None),
            seed=cfg.seed,
            context={},
            projection=proj,
            absent_pairs=absent,
            max_history=_max_history(cfg),
            autapses=False if same else None,
            truth_known=truth is not None,
        )
        if n_dropped:
            warnings.warn(
                f"{path}: {n_dropped} ground-truth pair(s) of a unit with itself left out "
                "(a unit's connection to itself is never inferred)",
                stacklevel=2,
            )
        command = command or shlex.join(["wi", "infer", str(path), "-o", str(output)])
        attrs = {
            "kind": KIND,
            "seed": int(cfg.seed),
            "timestep_ms": dt,
            "duration_ms": float(duration_ms),
            "source_file": str(path),
            "source_format": "nwb",
            "pre_selection": str(pre),
            "post_selection": str(post),
        }
        pops = {pre_name: pre_units} if same else {pre_name: pre_units, post_name: post_units}
        try:
            with RunWriter(
                output, config_yaml="", attrs=attrs, command=command, overwrite=force
            ) as w:
                for pop, units in pops.items():
                    w.add_population(pop, len(units), attrs={"source": "nwb units"})
                    ds = w.h5.create_dataset(f"populations/{pop}/nwb_unit", data=units)
                    ds.attrs["description"] = (
                        "row of the NWB Units table of each neuron of this population"
                    )
                if truth is not None:
                    w.write_projection(proj)
                with progress("infer", duration_ms / 1000.0, quiet=quiet) as bar:
                    for chunk in rec.chunks(pops, dt, _chunk_steps(dt, chunk_ms), n_steps):
                        w.append(chunk)
                        session.feed(chunk)
                        bar.advance(chunk.n_steps * dt / 1000.0)
                rows = _write_sessions([session], w.h5)
        finally:
            session.release()
    return output, rows


def _config(path: Path, dt: float, duration_ms: float, overrides, infer_config):
    """The config inference runs with: the defaults of external data (as ``wi infer`` on a
    file without a config) with this timestep and duration, then ``--config`` and ``--set``."""
    from wi.infer_file import _infer_config

    pseudo = SimpleNamespace(attrs={}, timestep_ms=dt, duration_ms=duration_ms)
    cfg, _ = _infer_config(pseudo, path, overrides, infer_config)
    return cfg


def _projection(name, pre_name, post_name, pre_units, post_units, same, truth, n_units):
    """The candidate pairs and their truth as a :class:`~wi.net.connectivity.Projection` in
    the populations' neuron numbering (CSR by pre neuron).

    With ``truth`` (global unit indices): the listed pairs between the selections with a
    nonzero weight (NaN included) are the synapses; pairs of a unit with itself are left out
    (their number is returned). Without: every candidate pair, weight NaN (unknown).
    """
    from wi.net.connectivity import Projection

    n_pre, n_post = len(pre_units), len(post_units)
    if truth is None:
        pre_l = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post_l = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if same:
            keep = pre_l != post_l
            pre_l, post_l = pre_l[keep], post_l[keep]
        weight = np.full(len(pre_l), np.nan)
        dropped = 0
    else:
        t_pre, t_post, t_w = truth
        pre_map = np.full(n_units, -1, np.int64)
        post_map = np.full(n_units, -1, np.int64)
        pre_map[pre_units] = np.arange(n_pre)
        post_map[post_units] = np.arange(n_post)
        pre_l, post_l = pre_map[t_pre], post_map[t_post]
        inside = (pre_l >= 0) & (post_l >= 0) & (t_w != 0)  # NaN != 0: unknown pairs stay
        self_pair = inside & (t_pre == t_post)
        dropped = int(np.count_nonzero(self_pair))
        keep = inside & ~self_pair
        pre_l, post_l, weight = pre_l[keep], post_l[keep], t_w[keep].astype(np.float64)
        order = np.lexsort((post_l, pre_l))
        pre_l, post_l, weight = pre_l[order], post_l[order], weight[order]
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(np.bincount(pre_l, minlength=n_pre), out=indptr[1:])
    proj = Projection(
        name,
        pre_name,
        post_name,
        int(n_post),
        indptr,
        post_l.astype(np.int32),
        np.ascontiguousarray(weight, np.float64),
        "recording",
    )
    return proj, dropped


def _user_keys(overrides, infer_config) -> set[str]:
    """The keys ``infer.methods.<method>.<field>`` the user gave (``--set``, ``--config``)."""
    from wi import config as config_mod

    keys = {k for k in overrides or {} if k.startswith("infer.methods.")}
    if infer_config is not None:
        section = config_mod.read_raw(infer_config)
        infer = section.get("infer", section) if isinstance(section, dict) else {}
        methods = (infer or {}).get("methods") or {}
        for m, fields in methods.items() if isinstance(methods, dict) else ():
            for f in fields or {} if isinstance(fields, dict) else ():
                keys.add(f"infer.methods.{m}.{f}")
    return keys


def _method_params(cfg, user_keys: set[str]) -> dict:
    """``{method: params}`` for a recording: the config's params, except that a field whose
    default is None ("from the protocol", e.g. a stimulus period) and that the user did not
    set is None again: a recording has no protocol to fill it from."""
    out = {}
    for m in METHODS:
        p = getattr(cfg.infer.methods, m, None)
        if p is not None:
            reset = {
                f: None
                for f, info in type(p).model_fields.items()
                if info.default is None
                and getattr(p, f) is not None
                and f"infer.methods.{m}.{f}" not in user_keys
            }
            p = p.model_copy(update=reset) if reset else p
        out[m] = p
    return out


def not_applicable(
    method: str,
    params,
    dt: float,
    duration_ms: float,
    pre: str,
    post: str,
    check_interval_ms: float = 1000.0,
):
    """Why ``method`` cannot run on a recording (spike times only, no protocol facts), or
    None. No method is named here: the estimator classes' declarations (voltages, marks) and
    a trial start on two units (a protocol fact it needs and its params do not give) decide."""
    from wi.infer.base import get

    cls = get(method)
    for role, names in cls.voltages.items():
        return (
            f"{method} needs the membrane voltage ({', '.join(names)}) of the {role} neurons; "
            "a recording has spike times only"
        )
    for role, names in cls.marks.items():
        return (
            f"{method} needs the per-spike mark(s) {', '.join(names)} of the {role} neurons "
            "(a Wiener protocol); a recording has spike times only"
        )
    try:
        probe = InferenceSession(
            {method: params},
            n_pre=2,
            n_post=2,
            timestep_ms=dt,
            duration_ms=duration_ms,
            check_interval_ms=check_interval_ms,
            context={},
            pre=pre,
            post=post if post != pre else post + "-probe",
        )
    except UserError as exc:
        why = exc.message
        if exc.key and exc.key.startswith("context."):
            fact = exc.key.removeprefix("context.")
            if fact in getattr(cls.Params, "model_fields", {}):
                why += f"; a recording does not give it: set infer.methods.{method}.{fact}"
            else:
                why += "; a recording does not give it"
        return why
    probe.release()
    return None


def _choose_methods(path, cfg, params, methods, dt, duration_ms, pre, post) -> list[str]:
    """The methods to run: those asked for (each must fit: else a UserError), or every
    method that fits (the others skipped with a warning)."""
    if methods:
        for m in methods:
            why = not_applicable(
                m, params.get(m), dt, duration_ms, pre, post, cfg.infer.check_interval_ms
            )
            if why:
                raise UserError(why, file=path, key=f"--method {m}")
        return list(dict.fromkeys(methods))
    chosen = []
    for m in METHODS:
        why = not_applicable(
            m, params.get(m), dt, duration_ms, pre, post, cfg.infer.check_interval_ms
        )
        if why:
            warnings.warn(f"{m} skipped: {why}", stacklevel=3)
        else:
            chosen.append(m)
    if not chosen:
        raise UserError("no inference method fits this recording", file=path)
    return chosen


def _check_history(cfg, path, duration_ms: float, n_pairs: int) -> None:
    """Refuse, before any work, a history that could not be stored (rows x kept pairs)."""
    from wi.infer_file import MAX_CHECKS, MAX_HISTORY_BYTES

    n_checks = int(duration_ms // cfg.infer.check_interval_ms) + 2
    size = n_checks * min(n_pairs, _max_history(cfg)) * 8
    if n_checks > MAX_CHECKS or size > MAX_HISTORY_BYTES:
        raise UserError(
            f"{n_checks:,} history rows ({size / 1e9:.3g} GB per method) for "
            f"{duration_ms:g} ms of data: raise it (at most {MAX_CHECKS:,} rows)",
            file=path,
            key="infer.check_interval_ms",
        )


def _max_history(cfg) -> int:
    history = getattr(cfg.infer, "history", None)
    return int(history.max_synapses) if history is not None else 10_000
