"""The HDF5 run file (schema ``wi-run``, version 1; DESIGN.md section 3).

Writing: :class:`RunWriter` creates a temporary file next to the target, appends time chunks
(spikes go to a scratch file, voltages straight into chunked datasets), and on success writes
the ragged spike datasets, sets ``status="complete"`` and renames the file into place. On any
exception (Ctrl-C included) the temporary files are removed and an existing target is left
untouched.

Reading: :func:`open_run` checks the schema; :class:`RunFile` reads attributes, spike trains,
and replays a stored run as a stream of :class:`~wi.chunk.Chunk` objects.
"""

from wi.store.reader import HDF5_MAGIC, RunFile, attr_str, is_complete, open_run, read_config_attr
from wi.store.writer import (
    SCHEMA,
    SCHEMA_VERSION,
    RunWriter,
    atomic_path,
    check_output,
    default_output,
    mark_complete,
    now_utc,
    write_root_attrs,
)

__all__ = [
    "HDF5_MAGIC",
    "SCHEMA",
    "SCHEMA_VERSION",
    "RunFile",
    "RunWriter",
    "atomic_path",
    "attr_str",
    "is_complete",
    "mark_complete",
    "write_root_attrs",
    "check_output",
    "default_output",
    "now_utc",
    "open_run",
    "read_config_attr",
]
