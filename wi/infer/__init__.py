"""Weight inference: online estimators (STDWI, Akrout, RDD, Bayes), observation noise, metrics,
and the streaming driver. ``from wi.infer import STDWI``; ``wi.infer.get("stdwi")`` by name.
Protocol facts go to an estimator as a :class:`Context`. The scores (Pearson r, sign accuracy,
least-squares scale, time to r >= 0.9) have one home: :mod:`wi.infer.metrics`.

This package must not import :mod:`wi.config` (which imports :mod:`wi.infer.params`).
"""

from wi.infer.akrout import Akrout
from wi.infer.base import REGISTRY, Context, Estimator, get
from wi.infer.bayes import Bayes
from wi.infer.rdd import RDD
from wi.infer.stdwi import STDWI

__all__ = ["REGISTRY", "RDD", "STDWI", "Akrout", "Bayes", "Context", "Estimator", "get"]
