"""Parameter sweeps: a grid of configs run on a local process pool or as a SLURM job array.

A sweep directory holds everything a sweep needs, so it can be resumed, inspected and
collected from anywhere::

    DIR/manifest.json              name, command, grid, base, the point list (index, id, params)
    DIR/points/<id>/config.yaml    the point's resolved config (``wi run`` accepts it alone)
    DIR/points/<id>/run.h5         its output run file (status "complete" when it finished)
    DIR/points/<id>/log.txt        everything the point printed (tracebacks included)
    DIR/points/<id>/status.json    queued | running | done | diverged | interrupted | failed,
                                   with host, pid, SLURM job id (written atomically)
    DIR/points/<id>/status.prev.json  the status before the point was re-submitted to SLURM
    DIR/sweep.sbatch, DIR/slurm/   the SLURM array script and the tasks' own output

Nothing is lost: a finished run file is never deleted (one that cannot be read right now, e.g.
an HDF5 lock held elsewhere, is left alone and its point reported failed with the reason);
SIGINT, SIGTERM and SIGHUP stop a sweep without touching finished points (running ones become
``interrupted`` and run again next time); a diverged point keeps its complete file.

Library entry points: :func:`wi.sweep.spec.load_sweep`, :func:`wi.sweep.layout.prepare`,
:func:`wi.sweep.local.run_local`, :func:`wi.sweep.slurm.submit`,
:func:`wi.sweep.status.point_states`, :func:`wi.sweep.collect.collect`.
"""
