"""Weight inference: online estimators (STDWI, Akrout, RDD, Bayes), observation noise, metrics,
and the streaming driver. ``from wi.infer import STDWI``; ``wi.infer.get("stdwi")`` by name.

This package must not import :mod:`wi.config` (which imports :mod:`wi.infer.params`).
"""

from wi.infer.akrout import Akrout
from wi.infer.base import REGISTRY, Estimator, get
from wi.infer.bayes import Bayes
from wi.infer.rdd import RDD
from wi.infer.stdwi import STDWI

__all__ = ["REGISTRY", "RDD", "STDWI", "Akrout", "Bayes", "Estimator", "get"]
