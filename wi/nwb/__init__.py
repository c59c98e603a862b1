"""Recordings in Neurodata Without Borders (NWB) files: read spike times and ground truth
(:mod:`wi.nwb.reader`), infer weights from a recording (:mod:`wi.nwb.infer`) and export a run
file as NWB (:mod:`wi.nwb.export`).

``pynwb`` is imported only inside these modules, when a recording is opened or written, so
that ``wi --version`` and ``wi validate`` never load it. The conventions (the Units table, the
``ground_truth_connectivity`` table, selections, time binning) are in ``docs/recordings.md``.
"""
