"""The sweep directory on disk: manifest, point directories, per-point status files.

All writes are atomic (temporary file + rename), so a reader never sees half a manifest or a
half-written status, even while SLURM tasks on other nodes update their points.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from wi import __version__
from wi.errors import UserError
from wi.store import (  # noqa: F401 (the run-file states, re-exported for the sweep modules)
    COMPLETE,
    INCOMPLETE,
    UNREADABLE,
    completion_state,
    is_complete,
    now_utc,
)

SCHEMA = "wi-sweep"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
OUTPUT = "run.h5"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # what open() would give (mkstemp gives 0600)


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def point_dir(sweep_dir: Path, point_id: str) -> Path:
    return Path(sweep_dir) / "points" / point_id


def default_dir(name: str) -> Path:
    return Path("runs") / name


def prepare(sweep, out_dir: Path) -> dict:
    """Create (or refresh) the sweep directory: manifest plus each point's config.yaml."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError("exists and is not a directory", file=out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
        raise UserError(
            f"exists and is not a sweep directory (no {MANIFEST}); choose another --out",
            file=out_dir,
        )
    try:
        (out_dir / "points").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the sweep directory: {exc.strerror}", file=out_dir
        ) from None
    for point, text in zip(sweep.points, sweep.resolved, strict=True):
        pdir = point_dir(out_dir, point.id)
        pdir.mkdir(exist_ok=True)
        cfg_path = pdir / "config.yaml"
        if not cfg_path.exists() or cfg_path.read_text() != text:
            write_text_atomic(cfg_path, text)
    spec = sweep.spec
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": sweep.name,
        "sweep_file": str(sweep.path.resolve()),
        "base": None if sweep.base_path is None else str(sweep.base_path.resolve()),
        "command": spec.command,
        "experiment": spec.experiment,
        "set": spec.set,
        "grid": spec.grid,
        "slurm": spec.slurm.model_dump(),
        "created_utc": now_utc(),
        "wi_version": __version__,
        "python": sys.executable,
        "points": [_entry(p, sim) for p, sim in zip(sweep.points, _sims(sweep), strict=True)],
    }
    write_text_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
    return manifest


def _sims(sweep) -> list:
    return list(sweep.sims) if sweep.sims else [None] * len(sweep.points)


def _entry(point, sim: str | None) -> dict:
    entry = {"index": point.index, "id": point.id, "params": point.params}
    if sim is not None:
        entry["sim"] = sim
    return entry


# ----------------------------------------------------------------------------- simulations
def simulation_groups(manifest: dict) -> list[list[int]]:
    """The points of each simulation: lists of point indices, each in index order, the lists
    ordered by their first index.

    Points with the same ``"sim"`` key in the manifest (``command: run`` points whose
    configs differ only in keys the simulation never reads, see
    :func:`wi.pipeline.simulation_key`) share one simulation; a point without the key (another
    command, or a manifest written before keys existed) is its own.

    Parameters
    ----------
    manifest : dict
        As :func:`read_manifest` returns it.

    Returns
    -------
    list of list of int
        ``len()`` is the number of simulations the sweep needs.
    """
    groups: dict = {}
    for p in sorted(manifest.get("points", []), key=lambda p: p["index"]):
        key = p.get("sim")
        groups.setdefault(("sim", key) if key is not None else ("point", p["index"]), []).append(
            p["index"]
        )
    return sorted(groups.values(), key=lambda g: g[0])


def group_of(manifest: dict, index: int) -> list[int]:
    """The points sharing point ``index``'s simulation (itself included), in index order."""
    for group in simulation_groups(manifest):
        if index in group:
            return group
    return [index]


def units(manifest: dict, indices: list[int]) -> list[list[int]]:
    """``indices`` split by simulation: one list per simulation (index order), ordered by
    first index; what one worker process (one SLURM task) runs, led by its first index."""
    wanted = set(indices)
    out = [[i for i in g if i in wanted] for g in simulation_groups(manifest)]
    known = {i for g in out for i in g}
    out += [[i] for i in sorted(wanted - known)]
    return sorted((u for u in out if u), key=lambda u: u[0])


def read_manifest(sweep_dir: Path) -> dict:
    """The manifest of a sweep directory, or a UserError saying it is not one."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError("not a directory (expected a sweep directory)", file=sweep_dir)
    path = sweep_dir / MANIFEST
    if not path.is_file():
        raise UserError(
            f"not a sweep directory: no {MANIFEST} (made by `wi sweep`)", file=sweep_dir
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"not valid JSON: {exc}", file=path) from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise UserError(f"schema is not {SCHEMA!r}", file=path, key="schema")
    if int(manifest.get("schema_version", 0)) > SCHEMA_VERSION:
        raise UserError(
            f"written by a newer wi (schema_version {manifest['schema_version']})", file=path
        )
    return manifest


# ----------------------------------------------------------------------------- status files
STATUS = "status.json"
PREVIOUS = "status.prev.json"


def read_status(pdir: Path) -> dict:
    try:
        data = json.loads((Path(pdir) / STATUS).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _status_text(state: str, info: dict) -> tuple[dict, str]:
    data = {"state": state, "host": socket.gethostname(), "time_utc": now_utc(), **info}
    return data, json.dumps(data, indent=1, default=str) + "\n"


def write_status(pdir: Path, state: str, **info: Any) -> dict:
    """Record a point's state (running, done, diverged, failed, interrupted) with who/where/when
    (atomically: temporary file + rename)."""
    data, text = _status_text(state, info)
    write_text_atomic(Path(pdir) / STATUS, text)
    return data


def create_status(pdir: Path, state: str, **info: Any) -> bool:
    """Write the status only where none exists yet; False (and nothing written) otherwise.

    Atomic and never clobbering: the full text goes to a temporary file that is then hard-linked
    to ``status.json`` (``link`` fails when the name exists, so a status a task wrote meanwhile
    always wins).
    """
    _, text = _status_text(state, info)
    target = Path(pdir) / STATUS
    fd, tmp = tempfile.mkstemp(prefix=f".{STATUS}.", suffix=".tmp", dir=pdir)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, _MODE)
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


def retire_status(pdir: Path) -> None:
    """Move a stale status (of a point about to be re-submitted) to ``status.prev.json``."""
    try:
        os.replace(Path(pdir) / STATUS, Path(pdir) / PREVIOUS)
    except FileNotFoundError:
        pass


def restore_status(pdir: Path) -> None:
    """Undo :func:`retire_status` where no new status was written since."""
    try:
        os.link(Path(pdir) / PREVIOUS, Path(pdir) / STATUS)
    except (FileNotFoundError, FileExistsError):
        return
    Path(pdir, PREVIOUS).unlink(missing_ok=True)


def log_tail(pdir: Path, lines: int = 12) -> list[str]:
    """The last ``lines`` lines of the point's log (reads at most the last 64 kB)."""
    path = Path(pdir) / "log.txt"
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            text = fh.read().decode(errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:]
