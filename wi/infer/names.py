"""The names of the scores (:mod:`wi.infer.metrics` computes them), importable without numpy:
the config's memory estimate counts them, and ``wi validate`` must stay light."""

#: Scores of an estimate against the true weights, on the synapses.
NAMES = ("pearson_r", "sign_accuracy", "cosine", "rmse_scaled")
#: Detection scores: synapses against absent pairs (NaN without absent pairs).
DETECTION = ("auc_roc", "auc_pr", "mcc", "f1")
#: Every score stored per check.
ALL_NAMES = NAMES + DETECTION
