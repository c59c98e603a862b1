"""``wi infer``: inference from a stored run file, adding the results in place or to a new file.

The file and the request are checked before any work (a run without spike times,
``record.spikes: false``, is refused before anything is locked or read; external files:
:meth:`wi.store.RunFile.validate_population`; the history size; only ``infer.*`` and
``observation_noise.*`` may change), the
data are replayed as chunks into the inference sessions, then the results are written:
in place with :mod:`wi.store.update` (inode, mode and links kept; the file unchanged if anything
fails), or with ``-o OUT.h5`` into a new run file: the input is opened read-only and never
changed; ``OUT.h5`` (schema version 2, ``status`` complete) holds the input's root attributes
(``command`` = this command), populations, ``/network`` and results, copied with HDF5's
``copy`` (nothing loaded into memory), plus the new results; it is written to a temporary file
and published in one step (:func:`wi.store.atomic_path`), so an error or a signal leaves
nothing behind. An existing ``OUT.h5`` needs ``--force``; ``OUT.h5`` may not be the input.
One writer per file (:mod:`wi.store.lock`).

Layout: results go where :func:`wi.store.inference.write_result` puts them for the file's schema
version: ``/inference/<projection>/<method>`` in a version-2 file (and in every ``-o`` file),
``/inference/<method>`` in a version-1 file updated in place (its own layout, so the file stays one version and older ``wi`` still reads it;
the true synapses come from ``/network`` of either version).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from wi.errors import UserError
from wi.pipeline import CHUNK_MS, METHODS, _check_names, _chunk_steps, _write_sessions
from wi.progress import progress
from wi.store import atomic_path, check_output, open_run, require_spikes
from wi.store.inference import result_key
from wi.store.lock import writer_lock
from wi.store.update import add_groups, open_for_update, require_writable_file

#: Config sections ``wi infer`` may change: the simulation is already in the file.
INFER_SECTIONS = ("infer", "observation_noise")


def _infer_config(run_file, path: Path, overrides: dict | None, infer_config: Path | None):
    """The config inference runs with: the run's stored config, or for external data (no
    config attribute) the paper defaults with the file's timestep and duration; then the
    ``infer:`` section of ``--config`` and the ``--set`` overrides."""
    from wi import config as config_mod

    stored = run_file.attrs.get("config")
    if stored:
        try:
            raw = config_mod.yaml_load(stored)
        except Exception as exc:  # noqa: BLE001 (any parse failure is bad input)
            raise UserError(
                f"is not valid YAML: {str(exc).splitlines()[0]}", file=path, key="/ attrs config"
            ) from None
        if not isinstance(raw, dict):
            raise UserError("is not a YAML mapping", file=path, key="/ attrs config")
        raw, source = dict(raw), f"{path} (config attribute)"
    else:
        raw = {"kind": "lif_feedforward", "timestep_ms": run_file.timestep_ms}
        raw["duration_ms"] = run_file.duration_ms
        source = str(path)
    for key in overrides or {}:
        if key.split(".")[0] not in INFER_SECTIONS:
            raise UserError(
                "wi infer changes only infer.* and observation_noise.* (the simulation is "
                "already in the file; change it with wi simulate or wi run)",
                file="--set",
                key=key,
            )
    if infer_config is not None:
        section = config_mod.read_raw(infer_config)
        if not any(key in section for key in INFER_SECTIONS):
            section = {"infer": section}  # a file holding just the infer section
        for key in section:
            if key not in INFER_SECTIONS:
                raise UserError(
                    "wi infer --config takes only the sections infer and observation_noise "
                    "(the simulation is already in the run file)",
                    file=infer_config,
                    key=str(key),
                )
        for key in INFER_SECTIONS:
            if section.get(key) is not None:
                raw[key] = {**(raw.get(key) or {}), **section[key]}
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
    output: Path | None = None,
    command: str | None = None,
) -> list[dict]:
    """Infer weights from the run file ``path``: add the results to it in place, or with
    ``output`` write them to a new run file and leave ``path`` untouched.

    In place, the file keeps its inode, mode and links, and holds what it held before if
    inference fails or is interrupted (:mod:`wi.store.update`); one writer at a time
    (:mod:`wi.store.lock`: a second ``wi infer`` waits). With ``output``, ``path`` is opened
    read-only and ``output`` is a complete run file of schema version 2 written through a
    temporary file and published in one step (nothing is left behind on an error or a
    signal): the input's root attributes (``command`` = this command), populations,
    ``/network``, existing results, and the new results (they replace input results of the
    same name).

    Parameters
    ----------
    path : Path
        The run file to read.
    methods : list of str or None
        Method names; None: the methods of the run's config (all of them for external data)
        that fit the data in the file.
    overrides : dict, optional
        ``--set`` overrides (``infer.*`` and ``observation_noise.*`` only).
    infer_config : Path, optional
        A YAML file with the ``infer`` (and ``observation_noise``) section.
    force : bool
        Replace existing results (in place) or an existing ``output``.
    quiet : bool
        No progress bar.
    chunk_ms : float
        Duration of the replayed chunks, ms.
    output : Path, optional
        The new run file; must not be ``path`` itself.
    command : str, optional
        The command line stored in ``output`` (default: ``wi infer PATH -o OUTPUT``).

    Returns
    -------
    list of dict
        One score row per result (:meth:`wi.infer.driver.InferenceSession.summary`).
    """
    _check_names(methods)
    path = Path(path)
    with open_run(path) as run_file:  # is it a run file at all (before any lock file is made)?
        _require_spike_times(run_file)
    if output is None:
        require_writable_file(path)
        with writer_lock(Path(os.path.realpath(path)), wait=True):
            sessions, unknown = _infer_sessions(
                path, methods, overrides, infer_config, force, quiet, chunk_ms
            )
            try:
                _require_space(sessions, path)
                with open_for_update(path) as h5:
                    return _add_results(sessions, h5, replace=force, unknown=unknown)
            finally:
                for session in sessions:
                    session.release()
    output = check_output_path(path, output, force)
    with _input_lock(path), writer_lock(output):
        # the input's own results are copied: replacing one in the new file needs no --force
        sessions, unknown = _infer_sessions(
            path, methods, overrides, infer_config, True, quiet, chunk_ms
        )
        try:
            _require_space(sessions, output, extra=os.path.getsize(path))
            with atomic_path(output, overwrite=force) as tmp:
                command = command or _default_command(path, output)
                rows = _write_copy(path, tmp, sessions, command, unknown)
            return rows
        finally:
            for session in sessions:
                session.release()


def check_output_path(path: Path, output: str | os.PathLike, force: bool) -> Path:
    """Check ``-o OUTPUT`` before any work: not the input file itself (under any name), not a
    directory, an existing file only with ``force``, a writable directory.

    Parameters
    ----------
    path : Path
        The input run file.
    output : path
        The new run file.
    force : bool
        Whether an existing ``output`` may be replaced.

    Returns
    -------
    Path
        ``output`` as a :class:`~pathlib.Path`.
    """
    output = Path(output)
    if output.exists() and Path(path).exists() and os.path.samefile(output, path):
        raise UserError("is the input file; leave -o out to add the results in place", file=output)
    return check_output(output, force)


def _default_command(path: Path, output: Path) -> str:
    import shlex

    return shlex.join(["wi", "infer", str(path), "-o", str(output)])


@contextlib.contextmanager
def _input_lock(path: Path):
    """Hold the input's write lock while it is read (an in-place ``wi infer`` running on it
    is waited for). An input in a directory this user cannot write is read without the lock
    file (HDF5's own file locking still refuses to open a file another program writes)."""
    real = Path(os.path.realpath(path))
    if not os.access(real.parent, os.W_OK):
        yield
        return
    with writer_lock(real, wait=True):
        yield


def _write_copy(path: Path, tmp: Path, sessions, command: str, unknown: dict) -> list[dict]:
    """Write the new run file ``tmp``: the input's root attributes (``command``, times and
    version updated, ``schema_version`` 2), its populations, ``/network`` and any other group
    copied with HDF5's ``copy`` (no dataset is loaded into memory), its inference results
    (moved to ``/inference/<projection>/<method>`` when the input is version 1; those the new
    results replace are not copied), then the new results, ``status = "complete"`` last. The
    input is opened read-only.

    Parameters
    ----------
    path : Path
        The input run file.
    tmp : Path
        The new file (a temporary name, published by the caller).
    sessions : list of InferenceSession
        Fed and ready to write.
    command : str
        The ``command`` attribute of the new file.
    unknown : dict
        ``{projection: unknown pairs}`` (:func:`_sessions`).

    Returns
    -------
    list of dict
        The score rows of the new results.
    """
    import h5py

    from wi import __version__
    from wi.store import SCHEMA, SCHEMA_VERSION, mark_complete, now_utc
    from wi.store.inference import result_groups
    from wi.store.update import TMP_PREFIX

    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs.update(
            schema=SCHEMA,
            schema_version=SCHEMA_VERSION,
            wi_version=__version__,
            created_utc=now_utc(),
            command=command,
            status="incomplete",
        )
        for name in src:
            if name != "inference" and not name.startswith(TMP_PREFIX):
                src.copy(src[name], dst, name=name)
        replaced = {n for s in sessions for n in _result_keys(s, dst)}
        for projection, method, group, _ in result_groups(src):
            if f"{projection}/{method}" in replaced:
                continue  # the new result takes its place: not copied, never deleted
            dst.require_group(f"inference/{projection}")
            src.copy(group, dst[f"inference/{projection}"], name=method)
        rows = _add_results(sessions, dst, replace=True, unknown=unknown)
        mark_complete(dst)
    return rows


def _require_spike_times(run_file) -> None:
    """Refuse, before any lock or work, a run written with ``record.spikes: false``: the
    spike times of ``input`` and ``output`` are what inference reads (a missing population
    is reported later, with the other checks of the file)."""
    for pop in ("input", "output"):
        if f"populations/{pop}" in run_file.h5 and not run_file.spikes_stored(pop):
            require_spikes(run_file.h5, pop, run_file.path)


def _require_space(sessions, target: Path, extra: int = 0) -> None:
    """Refuse to start writing results the disk cannot hold (HDF5 cannot recover a file whose
    write failed half-way): an estimate of their size plus a margin must be free."""
    import shutil

    needed = extra + (1 << 20)
    for s in sessions:
        for h in (getattr(s, "history", None) or {}).values():
            sampled = getattr(h, "n_sampled", None)  # pairs whose history is kept
            if sampled is not None:
                row = 8 * int(sampled)
            else:  # a history of the whole (n_post, n_pre) matrix
                row = 8 * int(getattr(s, "n_post", 0)) * int(getattr(s, "n_pre", 0))
            needed += int(getattr(h, "n", 0)) * int(row) * 5 // 4 + (64 << 10)
    free = shutil.disk_usage(Path(os.path.realpath(target)).parent).free
    if free < needed:
        raise UserError(
            f"the disk is full: {free / 1e6:.1f} MB free, the results need about "
            f"{needed / 1e6:.1f} MB; nothing was written",
            file=target,
        )


def _result_keys(session, h5) -> list[str]:
    """Where ``session`` writes its results, relative to ``/inference`` (a session without a
    ``projection`` attribute writes version 1's ``<method>``)."""
    projection = getattr(session, "projection", None)
    if not isinstance(projection, str):
        return list(session.stored_names)
    return [result_key(h5, projection, n) for n in session.stored_names]


def _add_results(sessions, h5, *, replace: bool, unknown: dict | None = None) -> list[dict]:
    """Write the sessions' results under ``/inference`` (:func:`wi.store.update.add_groups`);
    each result group gets the attribute ``unknown_pairs`` (true weights that are NaN, left
    out of its scores; 0 when all are known)."""
    rows: list[dict] = []
    names = [n for s in sessions for n in _result_keys(s, h5)]

    def write(container):
        rows.extend(_write_sessions(sessions, container))
        for s in sessions:
            count = int((unknown or {}).get(getattr(s, "projection", None), 0))
            for n in _result_keys(s, h5):
                container[f"inference/{n}"].attrs["unknown_pairs"] = count

    add_groups(h5, "inference", names, write, replace=replace)
    return rows


def _infer_sessions(path, methods, overrides, infer_config, force, quiet, chunk_ms):
    """Check the file and the request, then feed the file's data to the inference sessions
    (closed or not, not yet written); returns them and ``{projection: unknown pairs}``."""
    import warnings

    from wi.infer.driver import sessions_from_config

    with open_run(path) as run_file:
        cfg, has_config = _infer_config(run_file, path, overrides, infer_config)
        if cfg.kind == "autoencoder":
            raise UserError(
                "an autoencoder run has no weights to infer", file=path, key="/ attrs kind"
            )
        network = cfg.kind == "network"
        truth, n_pre, n_post = None, None, None
        if not network:
            for pop in ("input", "output"):
                if f"populations/{pop}" not in run_file.h5:
                    raise UserError("population missing", file=path, key=f"/populations/{pop}")
            n_pre, n_post = run_file.n_neurons("input"), run_file.n_neurons("output")
            truth = _truth(run_file, path, n_pre, n_post)
            _check_history_size(cfg, path, run_file.duration_ms, n_pre, n_post)
            for pop in ("input", "output"):
                run_file.validate_population(pop)  # before any work
        if methods:
            for m in methods:
                why = None if network else _not_applicable(run_file, cfg, m)
                if why:
                    raise UserError(why, file=path, key=f"--method {m}")
        else:
            candidates = [m for m in METHODS if getattr(cfg.infer.methods, m) is not None]
            candidates = candidates if has_config else list(METHODS)
            methods = [
                m for m in candidates if network or _not_applicable(run_file, cfg, m) is None
            ]
            for m in (m for m in candidates if m not in methods and has_config):
                warnings.warn(f"{m} skipped: {_not_applicable(run_file, cfg, m)}", stacklevel=2)
            if not methods:
                raise UserError("no inference method fits this file", file=path)
        sessions, unknown = _sessions(
            sessions_from_config, cfg, methods, run_file, truth, n_pre, n_post
        )
        try:
            existing = [
                n
                for s in sessions
                for n in _result_keys(s, run_file.h5)
                if f"inference/{n}" in run_file.h5
            ]
            need = _Needs(sessions)  # every population, voltage and mark any session reads
            for pop in need.populations if network else ():
                require_spikes(run_file.h5, pop, path)
                run_file.validate_population(pop)
            if existing and not force:
                raise UserError(
                    f"already holds results of {', '.join(existing)}; use --force to replace them",
                    file=path,
                    key=f"/inference/{existing[0]}",
                )
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
    return sessions, unknown


class _Needs:
    """The union of what several sessions read: ``populations`` (tuple), ``voltages`` and
    ``marks`` ({pop: names})."""

    def __init__(self, sessions):
        from wi.infer.driver import union_needs

        pops: list[str] = []
        for s in sessions:
            pops += [p for p in s.populations if p not in pops]
        self.populations = tuple(pops)
        self.voltages = union_needs(s.voltages for s in sessions)
        self.marks = union_needs(s.marks for s in sessions)


def _sessions(sessions_from_config, cfg, methods, run_file, truth, n_pre, n_post):
    """The inference sessions for the file and ``{projection: unknown pairs}``, with the
    projections read from ``/network`` (:meth:`wi.store.RunFile.projection`, versions 1 and 2)
    and, for a projection the file has no synapses of (a recording), the sizes.

    A NaN true weight marks an unknown pair: the driver keeps it in the pair set (it is
    learnt) and leaves it out of every score; an infinite weight is refused before any work
    (:func:`_unknown_synapses`)."""
    from wi.infer.protocol import inferred_projections

    projections = {n: run_file.projection(n) for n in run_file.projections()}
    unknown = {
        name: _unknown_synapses(projections[name], run_file, name)
        for name in inferred_projections(cfg)
        if name in projections
    }
    sessions = sessions_from_config(
        cfg, methods, projections=projections, truth=truth, n_pre=n_pre, n_post=n_post
    )
    return sessions, unknown


def _unknown_synapses(proj, run_file, name: str) -> int:
    """The number of synapses of ``proj`` whose true weight is unknown (NaN).

    Parameters
    ----------
    proj : wi.net.connectivity.Projection
        The true synapses read from the file (CSR by pre).
    run_file : wi.store.RunFile
        The file, for the message.
    name : str
        The projection's name (``/network/<name>``).

    Returns
    -------
    int

    Raises
    ------
    wi.errors.UserError
        For an infinite weight, naming the dataset and the ``[post, pre]`` index (the first in
        row-major order of the (n_post, n_pre) matrix).
    """
    weight = np.asarray(proj.weight, np.float64)
    if np.isfinite(weight).all():
        return 0
    post_index = np.asarray(proj.post_index)
    pre_index = np.asarray(proj.pre_index)
    inf = np.flatnonzero(np.isinf(weight))
    if len(inf):
        first = inf[np.lexsort((pre_index[inf], post_index[inf]))[0]]
        group = run_file.h5[f"network/{name}"]
        key = f"/network/{name}/" + ("weights" if "weights" in group else "weight")
        raise UserError(
            f"infinite at [{post_index[first]}, {pre_index[first]}] (NaN marks an unknown pair; "
            "infinity is not a weight)",
            file=run_file.path,
            key=key,
        )
    return int(np.count_nonzero(np.isnan(weight)))


MAX_CHECKS = 1_000_000  # history rows per method
MAX_HISTORY_BYTES = 1 << 33  # 8 GiB per method


def _check_history_size(cfg, path, duration_ms: float, n_pre: int, n_post: int) -> None:
    """Refuse, before any work, a history that could not be stored (rows x weights)."""
    n_checks = int(duration_ms // cfg.infer.check_interval_ms) + 2
    size = n_checks * (min(n_pre, n_post) if cfg.kind == "wiener" else n_pre * n_post) * 8
    if n_checks > MAX_CHECKS or size > MAX_HISTORY_BYTES:
        raise UserError(
            f"{n_checks:,} history rows ({size / 1e9:.3g} GB per method) for "
            f"{duration_ms:g} ms of data: raise it (at most {MAX_CHECKS:,} rows, "
            f"{MAX_HISTORY_BYTES / 1e9:.3g} GB)",
            file=path,
            key="infer.check_interval_ms",
        )


def _truth(run_file, path, n_pre: int, n_post: int):
    """The true input -> output weights of the file (None if absent), checked: numbers of
    shape (n_post, n_pre), NaN (an unknown pair) allowed, no infinity."""
    key = "network/input_output/weights"
    if key not in run_file.h5:
        return None
    ds = run_file.h5[key]
    if ds.dtype.kind not in "fiu" or ds.shape != (n_post, n_pre):
        raise UserError(
            f"must be numbers of shape (n_output, n_input) = {(n_post, n_pre)}, got {ds.dtype} "
            f"{ds.shape}",
            file=path,
            key=f"/{key}",
        )
    w = ds[()].astype(np.float64)
    if np.isinf(w).any():
        post, pre = np.argwhere(np.isinf(w))[0]
        raise UserError(
            f"infinite at [{post}, {pre}] (NaN marks an unknown pair; infinity is not a weight)",
            file=path,
            key=f"/{key}",
        )
    return w


def _not_applicable(run_file, cfg, method: str) -> str | None:
    """Why ``method`` cannot run on this file, or None: a voltage or a per-spike mark that the
    estimator class declares (by role: pre = ``input``, post = ``output``) is not stored. No
    method is named here; the classes' declarations are the only list."""
    from wi.infer.base import LEGACY_ROLES, get

    cls = get(method)
    pops = {"pre": "input", "post": "output"}
    for role, names in cls.voltages.items():
        pop = pops[LEGACY_ROLES.get(role, role)]
        if not run_file.has_voltages(pop, tuple(names)):
            paths = " and ".join(f"/populations/{pop}/{n}" for n in names)
            return (
                f"{method} needs the membrane of population {pop!r} ({paths}): simulate with "
                "record.voltages: true (--set record.voltages=true), or use `wi run`"
            )
    for role, names in cls.marks.items():
        pop = pops[LEGACY_ROLES.get(role, role)]
        for n in names:
            if f"populations/{pop}/{n}" not in run_file.h5:
                return (
                    f"{method} needs the per-spike mark /populations/{pop}/{n} (stored by a "
                    "wiener run)"
                )
    return None
