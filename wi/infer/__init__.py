"""Weight inference: online estimators (STDWI, Akrout, RDD, Bayes, CCG, GLM), observation noise,
metrics,
and the streaming driver. ``from wi.infer import STDWI``; ``wi.infer.get("stdwi")`` by name.
Protocol facts go to an estimator as a :class:`Context`; the pairs it learns as a
:class:`PairSet` (:mod:`wi.infer.pairs`); :func:`method_names` lists the registered methods. The scores (Pearson r, sign accuracy,
least-squares scale, time to r >= 0.9) have one home: :mod:`wi.infer.metrics`.

The estimators (and with them numba) are imported on first use of a name below, so that
:mod:`wi.infer.params` (imported to validate a config) does not load the kernels.
This package must not import :mod:`wi.config` (which imports :mod:`wi.infer.params`).
"""

__all__ = [
    "REGISTRY",
    "RDD",
    "STDWI",
    "Akrout",
    "Bayes",
    "CCG",
    "GLM",
    "Context",
    "Estimator",
    "PairSet",
    "get",
    "method_names",
]

#: Non-estimator names and their modules; an estimator class is found by its class name in
#: the registry (so a new method module needs no line here).
_HOME = {
    "REGISTRY": "base",
    "Context": "base",
    "Estimator": "base",
    "get": "base",
    "method_names": "base",
    "PairSet": "pairs",
}


def __getattr__(name: str):
    import importlib

    from wi.infer.base import REGISTRY, load_methods

    load_methods()
    if name in _HOME:
        return getattr(importlib.import_module(f"wi.infer.{_HOME[name]}"), name)
    for cls in REGISTRY.values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module 'wi.infer' has no attribute {name!r}")
