"""``wi export RUN.h5 -o run.nwb``: a run file as a Neurodata Without Borders file.

What the NWB file holds (``docs/recordings.md``):

- **Units**: one unit per neuron of every population whose spike times are stored, population
  by population in the run file's order, neurons in order; columns ``spike_times`` (s, the
  start of the spike's step: ``step * timestep_ms / 1000``), ``population`` (text) and
  ``neuron`` (the neuron's index within its population). Unit ``k`` of population ``p`` is row
  ``offset(p) + k``.
- **Ground truth**: the true synapses of every stored projection (``/network``) whose two
  populations are exported, as the DynamicTable ``ground_truth_connectivity`` in the scratch
  space: columns ``pre_unit``, ``post_unit`` (rows of the Units table), ``weight`` (NaN:
  unknown), ``projection`` (its name in the run file). Pairs not listed have no synapse.
- **Inference results**: a processing module ``wi_inference`` holding one DynamicTable per
  (projection, method), named ``<projection>__<method>``: the final estimate of every candidate
  pair (columns ``pre_unit``, ``post_unit``, ``estimate``, ``exists``), and a table
  ``summary``: one row per result with its table name, projection, method, populations and
  final metrics.
- **Metadata**: ``session_description`` (kind and command of the run), ``identifier`` (file
  name and creation time of the run), ``session_start_time`` (the run's ``created_utc``; time
  0 of the run), ``notes`` (the command), and the run's resolved config as the scratch text
  ``wi_config``.

The output is written to a temporary name and published in one step
(:func:`wi.store.atomic_path`); an existing file is replaced only with ``force``; the run file
is opened read-only.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from wi.errors import UserError

#: Name of the processing module holding the inference results.
MODULE = "wi_inference"
#: Separator of projection and method in the result tables' names.
SEP = "__"


def _start_time(created: str | None) -> datetime:
    if created:
        try:
            return datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime(1970, 1, 1, tzinfo=UTC)


def export_run(run_path, output, *, force: bool = False) -> Path:
    """Write the run file ``run_path`` as the NWB file ``output`` (module docstring).

    Parameters
    ----------
    run_path : path
        A complete run file with spike times (``record.spikes: true``).
    output : path
        The NWB file to write.
    force : bool
        Replace an existing ``output``.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    wi.errors.UserError
        Not a run file; no population with spike times; ``output`` exists (without
        ``force``) or is the run file.
    """
    from wi.infer_file import check_output_path
    from wi.store import atomic_path, open_run

    run_path, output = Path(run_path), Path(output)
    output = check_output_path(run_path, output, force)
    with open_run(run_path) as run:
        pops = [p for p in run.populations() if run.spikes_stored(p)]
        if not pops:
            raise UserError(
                "no population has spike times (record.spikes: false); nothing to export",
                file=run_path,
                key="/populations",
            )
        for p in pops:
            run.validate_population(p)
        with atomic_path(output, overwrite=force) as tmp:
            _write(run, run_path, pops, tmp)
    return output


def _write(run, run_path: Path, pops: list[str], tmp: Path) -> None:
    from hdmf.common import DynamicTable, VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.core import ScratchData
    from pynwb.file import Subject
    from pynwb.misc import Units

    from wi import __version__
    from wi.store.reader import attr_str

    attrs = run.attrs
    command = attr_str(attrs.get("command")) or ""
    kind = attr_str(attrs.get("kind")) or "unknown"
    created = attr_str(attrs.get("created_utc"))
    nwb = NWBFile(
        session_description=f"wi {kind} run ({command or run_path.name}), exported by wi "
        f"{__version__}",
        identifier=f"wi:{run_path.name}:{created or 'unknown'}",
        session_start_time=_start_time(created),
        notes=f"Exported from the wi run file {run_path.name}; command: {command}",
        source_script=f"wi {__version__} (wi export)",
        source_script_file_name="wi",
        experiment_description=f"Simulated spiking network ({kind}) of wi: spikes, true "
        "synapses (scratch: ground_truth_connectivity) and weight-inference results "
        f"(processing module {MODULE})",
        keywords=["simulation", "spiking network", "weight inference", "wi"],
        subject=Subject(
            subject_id=f"wi-{kind}-seed-{attrs.get('seed', 'unknown')}",
            description="a simulated network (wi); no animal was recorded",
            species="in silico",
            sex="U",
            date_of_birth=_start_time(created),  # a simulated network starts at time 0
        ),
    )
    dt = float(run.timestep_ms)

    # ---- units
    offsets, times, ends, population, neuron = {}, [], [], [], []
    total = 0
    for p in pops:
        offsets[p] = len(population)
        g = run.h5[f"populations/{p}"]
        t_ms = np.asarray(g["spike_times"][()], np.float64)
        e = np.asarray(g["spike_times_index"][()], np.int64)
        times.append(t_ms / 1000.0)
        ends.append(e + total)
        total += len(t_ms)
        population += [p] * len(e)
        neuron.append(np.arange(len(e), dtype=np.int64))
    n_units = len(population)
    duration_s = float(run.duration_ms) / 1000.0
    obs = VectorData(
        name="obs_intervals",
        description="the observation interval of each unit: the whole run, [0, duration] s",
        data=np.tile([[0.0, duration_s]], (n_units, 1)),
    )
    spike_times = VectorData(
        name="spike_times",
        description="the spike times for each unit in seconds (start of the wi time step)",
        data=np.concatenate(times) if times else np.empty(0),
    )
    index = VectorIndex(name="spike_times_index", data=np.concatenate(ends), target=spike_times)
    units = Units(
        name="units",
        description=f"every neuron of the wi run's populations {', '.join(pops)} (time step "
        f"{dt:g} ms)",
        id=np.arange(n_units),
        columns=[
            spike_times,
            index,
            VectorData(name="population", description="wi population", data=population),
            VectorData(
                name="neuron",
                description="index of the neuron within its population",
                data=np.concatenate(neuron),
            ),
            obs,
            VectorIndex(name="obs_intervals_index", data=np.arange(1, n_units + 1), target=obs),
        ],
        colnames=["spike_times", "population", "neuron", "obs_intervals"],
        resolution=dt / 1000.0,
    )
    nwb.units = units

    # ---- ground truth
    rows = {"pre_unit": [], "post_unit": [], "weight": [], "projection": []}
    for name in run.projections():
        proj = run.projection(name)
        if proj.pre not in offsets or proj.post not in offsets:
            continue
        n = int(proj.indptr[-1])
        rows["pre_unit"].append(offsets[proj.pre] + np.asarray(proj.pre_index, np.int64))
        rows["post_unit"].append(offsets[proj.post] + np.asarray(proj.post_index, np.int64))
        rows["weight"].append(np.asarray(proj.weight, np.float64))
        rows["projection"] += [name] * n
    if rows["projection"]:
        truth = DynamicTable(
            name="ground_truth_connectivity",
            description="true synapses of the simulated network: pre_unit -> post_unit (rows "
            "of the Units table) with their weight (membrane units; 0 = no synapse, NaN = "
            "unknown); pairs not listed have no synapse",
            columns=[
                VectorData(
                    name="pre_unit",
                    description="presynaptic unit (row of the Units table)",
                    data=np.concatenate(rows["pre_unit"]),
                ),
                VectorData(
                    name="post_unit",
                    description="postsynaptic unit (row of the Units table)",
                    data=np.concatenate(rows["post_unit"]),
                ),
                VectorData(
                    name="weight",
                    description="true weight (dimensionless, membrane threshold units)",
                    data=np.concatenate(rows["weight"]),
                ),
                VectorData(
                    name="projection",
                    description="the wi projection the synapse belongs to",
                    data=rows["projection"],
                ),
            ],
        )
        nwb.add_scratch(truth)
    config = attr_str(attrs.get("config"))
    if config:
        nwb.add_scratch(
            ScratchData(
                name="wi_config", data=config, description="the run's resolved wi config (YAML)"
            )
        )

    # ---- inference results
    tables, summary = [], []
    for res in run.inference_results():
        if res.pre not in offsets or res.post not in offsets:
            continue
        table_name = f"{res.projection}{SEP}{res.method}"
        est = np.asarray(res.final, np.float64)
        tables.append(
            DynamicTable(
                name=table_name,
                description=f"final estimate of {res.method} for the projection "
                f"{res.projection} ({res.pre} -> {res.post}) after all the data, one row per "
                "candidate pair",
                columns=[
                    VectorData(
                        name="pre_unit",
                        description="presynaptic unit (row of the Units table)",
                        data=offsets[res.pre] + np.asarray(res.pre_index, np.int64),
                    ),
                    VectorData(
                        name="post_unit",
                        description="postsynaptic unit (row of the Units table)",
                        data=offsets[res.post] + np.asarray(res.post_index, np.int64),
                    ),
                    VectorData(name="estimate", description="estimated weight", data=est),
                    VectorData(
                        name="exists",
                        description="whether the pair is a true synapse",
                        data=np.asarray(res.exists, bool),
                    ),
                ],
            )
        )
        summary.append((table_name, res))
    if tables:
        module = nwb.create_processing_module(
            name=MODULE, description="weight-inference results of wi (final estimates)"
        )
        for t in tables:
            module.add(t)
        metric_names = sorted({m for _, r in summary for m in r.metrics})
        cols = [
            VectorData(
                name="table", description="name of the result table", data=[t for t, _ in summary]
            ),
            VectorData(
                name="projection",
                description="wi projection",
                data=[r.projection for _, r in summary],
            ),
            VectorData(
                name="method", description="inference method", data=[r.method for _, r in summary]
            ),
            VectorData(name="pre", description="pre population", data=[r.pre for _, r in summary]),
            VectorData(
                name="post", description="post population", data=[r.post for _, r in summary]
            ),
        ]
        for m in metric_names:
            cols.append(
                VectorData(
                    name=f"final_{m}",
                    description=f"{m} of the final estimate (NaN when not computed)",
                    data=np.array([r.final_metric(m) for _, r in summary], np.float64),
                )
            )
        module.add(DynamicTable(name="summary", description="one row per result", columns=cols))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with NWBHDF5IO(os.fspath(tmp), "w") as io:
            io.write(nwb)
