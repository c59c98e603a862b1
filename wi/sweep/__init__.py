"""Parameter sweeps: a grid of configs run on a local process pool or as a SLURM job array.

A sweep directory holds everything a sweep needs, so it can be resumed, inspected and
collected from anywhere::

    DIR/manifest.json              name, command, grid, base, the point list (index, id, params,
                                   sim: the simulation key of a ``command: run`` point)
    DIR/points/<id>/config.yaml    the point's resolved config (``wi run`` accepts it alone)
    DIR/points/<id>/run.h5         its output run file (status "complete" when it finished)
    DIR/points/<id>/log.txt        everything the point printed (tracebacks included); a point
                                   that ran with others names the log holding their output
    DIR/points/<id>/status.json    queued | running | done | diverged | interrupted | failed,
                                   with host, pid, SLURM job id (written atomically)
    DIR/points/<id>/status.prev.json  the status before the point was re-submitted to SLURM
    DIR/sweep.sbatch, DIR/slurm/   the SLURM array script and the tasks' own output

Points sharing a simulation run together. ``command: run`` points whose resolved configs differ
only in keys the simulation never reads (``infer``, ``observation_noise``, ``record``) have the
same simulation key (:func:`wi.pipeline.simulation_key`, stored as ``"sim"`` in the manifest;
:func:`wi.sweep.layout.simulation_groups` lists the groups). One process (one local worker, one
SLURM array task, indexed by the group's first point still to run) simulates once and writes
every member's run file that is not complete yet (:func:`wi.pipeline.run_shared`), each
identical to what ``wi run`` writes for that point alone; every member gets its own status.
A grid of 12 STDWI time constants x 3 seeds thus simulates 3 times, not 36.

Nothing is lost: a finished run file is never deleted (one that cannot be read right now, e.g.
an HDF5 lock held elsewhere, is left alone and its point reported failed with the reason);
SIGINT, SIGTERM and SIGHUP stop a sweep without touching finished points (running ones become
``interrupted`` and run again next time); a diverged point keeps its complete file.

Library entry points: :func:`wi.sweep.spec.load_sweep`, :func:`wi.sweep.layout.prepare`,
:func:`wi.sweep.local.run_local`, :func:`wi.sweep.slurm.submit`,
:func:`wi.sweep.status.point_states`, :func:`wi.sweep.collect.collect`,
:func:`wi.sweep.layout.simulation_groups`.
"""
