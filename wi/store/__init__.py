"""The HDF5 run file (schema ``wi-run``, version 2; the layout is in docs/run-file.md).

Writing: :class:`RunWriter` creates a temporary file next to the target, appends time chunks
(spikes go to a scratch file, voltages straight into chunked datasets), and on success writes
the ragged spike datasets, sets ``status="complete"`` and moves the file into place (never over
an existing file without ``overwrite``; one writer per file, :mod:`wi.store.lock`). On any
exception (signals included) the temporary files are removed and an existing target is left
untouched. ``wi infer`` adds results in place (:mod:`wi.store.update`). True synapses and
inference results are written and read by :mod:`wi.store.inference` only
(:func:`write_result`, :meth:`RunFile.inference_results`, :meth:`RunFile.projection`);
version-1 files stay readable.

Reading: :func:`open_run` checks the schema; :class:`RunFile` reads attributes, spike trains,
and replays a stored run as a stream of :class:`~wi.chunk.Chunk` objects. A run written with
``record.spikes: false`` keeps only per-neuron spike counts (:mod:`wi.store.populations`:
:func:`spikes_stored`, :func:`spike_counts`; :func:`require_spikes` refuses it in one line).
"""

from wi.store.inference import InferenceResult, write_result
from wi.store.populations import NOT_STORED, require_spikes, spike_counts, spikes_stored
from wi.store.reader import (
    COMPLETE,
    HDF5_MAGIC,
    INCOMPLETE,
    UNREADABLE,
    RunFile,
    attr_str,
    completion_state,
    is_complete,
    open_run,
    read_config_attr,
)
from wi.store.writer import (
    SCHEMA,
    SCHEMA_VERSION,
    RunWriter,
    atomic_path,
    check_output,
    default_output,
    mark_complete,
    now_utc,
    publish,
    write_root_attrs,
)

__all__ = [
    "HDF5_MAGIC",
    "InferenceResult",
    "write_result",
    "NOT_STORED",
    "SCHEMA",
    "SCHEMA_VERSION",
    "RunFile",
    "RunWriter",
    "atomic_path",
    "attr_str",
    "is_complete",
    "completion_state",
    "COMPLETE",
    "INCOMPLETE",
    "UNREADABLE",
    "mark_complete",
    "write_root_attrs",
    "check_output",
    "default_output",
    "now_utc",
    "open_run",
    "publish",
    "read_config_attr",
    "require_spikes",
    "spike_counts",
    "spikes_stored",
]
