"""How many CPUs this process may use: the one rule for sizing thread and process pools."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (at least 1).

    ``os.cpu_count()`` counts every CPU of the machine, also those a batch scheduler, ``taskset``
    or a container did not give us; oversubscribing them makes a pool slower, not faster. This
    is the size of the CPU affinity mask (``os.sched_getaffinity(0)``), and inside a SLURM job at
    most ``SLURM_CPUS_PER_TASK`` (the allocation, also where SLURM does not pin CPUs).

    Returns
    -------
    int
        Number of CPUs, >= 1.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        n = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    if slurm.isdigit() and int(slurm) >= 1:
        n = min(n, int(slurm))
    return max(1, n)
