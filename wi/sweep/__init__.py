"""Parameter sweeps: a grid of configs run on a local process pool or as a SLURM job array.

A sweep directory holds everything a sweep needs, so it can be resumed, inspected and
collected from anywhere::

    DIR/manifest.json              name, command, grid, base, the point list (index, id, params)
    DIR/points/<id>/config.yaml    the point's resolved config (``wi run`` accepts it alone)
    DIR/points/<id>/run.h5         its output run file (status "complete" when it finished)
    DIR/points/<id>/log.txt        everything the point printed (tracebacks included)
    DIR/points/<id>/status.json    queued | running | done | failed, with host, pid, job id
    DIR/sweep.sbatch, DIR/slurm/   the SLURM array script and the tasks' own output

Library entry points: :func:`wi.sweep.spec.load_sweep`, :func:`wi.sweep.layout.prepare`,
:func:`wi.sweep.local.run_local`, :func:`wi.sweep.slurm.submit`,
:func:`wi.sweep.status.point_states`, :func:`wi.sweep.collect.collect`.
"""
