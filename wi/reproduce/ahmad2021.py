"""Ahmad, Ambrogioni & van Gerven: STDWI, Akrout and RDD on the LIF protocol, hyperparameter
grids, input statistics, and the Wiener-process comparison with the Bayesian estimator.

Experiments: ``configs/reproduce/ahmad2021/*.yaml``; :func:`analyze` turns the collected
sweeps into the report's sections (figures, tables, checks).
"""

from __future__ import annotations

import math

import h5py
import numpy as np

from wi.plot.data import inference_results, time_to_r90_ms
from wi.reproduce import claims, figures
from wi.reproduce.recipe import Experiment, Paper
from wi.store.inference import PROJECTION_V1
from wi.sweep.collect import mean_sd

METHODS = ("stdwi", "akrout", "rdd")
#: Data time (s) to r >= 0.9 of the original code on seed 1 (paper protocol).
ORIGINAL_T90_S = {"stdwi": 30.0, "akrout": 56.0, "rdd": 330.0}
#: The data lengths (s) the original code was run at; STDWI ended highest at every one.
ORIGINAL_LENGTHS_S = (50.0, 100.0, 200.0, 400.0)
#: (method, row key, column key, the paper's (row, column) values, row label, column label)
GRIDS = {
    "stdwi-taus": ("stdwi", "infer.methods.stdwi.tau_fast_ms", "infer.methods.stdwi.tau_slow_ms",
                   (20, 200), "tau_fast (ms)", "tau_slow (ms)"),
    "akrout-batch-decay": ("akrout", "infer.methods.akrout.batch_stimuli",
                           "infer.methods.akrout.decay", (100, 0.2), "stimuli per batch",
                           "decay"),
    "rdd-alpha-window": ("rdd", "infer.methods.rdd.alpha", "infer.methods.rdd.window_ms",
                         (0.025, 35), "alpha", "window (ms)"),
}  # fmt: skip
GRID_TOL = 0.05
ORDER_FRACTION = 0.8


def _n_seeds(sr) -> int:
    """Seeds in the sweep's grid (0 when the experiment did not run)."""
    return 0 if sr is None else len(sr.manifest["grid"].get("seed", [None]))


def _seconds(ms: float) -> str:
    return f"{ms / 1000.0:g} s"


def histories(sr, methods) -> dict[str, dict]:
    """Per method: ``time_s`` and one row per finished seed of pearson_r and sign_accuracy
    (rows cut to the shortest history), plus ``seed`` and ``time_to_r90_s`` per seed."""
    out: dict[str, dict] = {}
    for row in sorted(sr.finished(), key=lambda r: r.get("seed", 0)):
        with h5py.File(sr.run_file(row), "r") as h5:
            for res in inference_results(h5):
                if res.name not in methods or res.projection != PROJECTION_V1:
                    continue
                d = out.setdefault(res.name, {"time_s": None, "pearson_r": [],
                                              "sign_accuracy": [], "seed": [],
                                              "time_to_r90_s": []})  # fmt: skip
                t = res.time_ms / 1000.0
                d["time_s"] = t if d["time_s"] is None or len(t) < len(d["time_s"]) else d["time_s"]
                for m in ("pearson_r", "sign_accuracy"):
                    d[m].append(res.metrics.get(m, np.full(len(t), np.nan)))
                d["seed"].append(row.get("seed"))
                d["time_to_r90_s"].append(time_to_r90_ms(res) / 1000.0)  # NaN: never
    for d in out.values():
        n = len(d["time_s"])
        for m in ("pearson_r", "sign_accuracy"):
            d[m] = np.array([np.asarray(r, float)[:n] for r in d[m]])
        d["time_to_r90_s"] = np.array(d["time_to_r90_s"], float)
    return {m: out[m] for m in methods if m in out}


def at_time(d: dict, metric: str, t_s: float) -> np.ndarray:
    """One value per seed: the history row at data time ``t_s`` (the last row at or before)."""
    k = int(np.searchsorted(d["time_s"], t_s + 1e-9, side="right")) - 1
    return d[metric][:, max(k, 0)]


def _ms(x: np.ndarray, digits: int = 3) -> str:
    m, s = mean_sd(x)
    if not math.isfinite(m):
        return "n/a"
    return f"{m:.{digits}f}" + ("" if not math.isfinite(s) else f" ± {s:.{digits}f}")


def _aligned(h: dict, metric: str, t_s: float) -> dict[str, np.ndarray]:
    """Per method, values per seed on a common seed axis (NaN where a seed is missing)."""
    seeds = sorted({s for d in h.values() for s in d["seed"]})
    out = {}
    for m, d in h.items():
        vals = dict(zip(d["seed"], at_time(d, metric, t_s), strict=True))
        out[m] = np.array([vals.get(s, np.nan) for s in seeds], float)
    return out


def section_curves(ctx) -> dict:
    sr = ctx.sweeps.get("paper-seeds")
    sec = {"id": "curves", "title": f"Inference over time (paper protocol, {_n_seeds(sr)} seeds)",
           "claim": "STDWI infers the feedforward weights faster and better than Akrout's method, "
                    "which beats RDD: Pearson r and sign accuracy ordered STDWI > Akrout > RDD.",
           "figures": [], "tables": [], "checks": [], "configs": [], "notes": ""}  # fmt: skip
    if sr is None:
        return sec
    sec["configs"].append({"name": "paper-seeds sweep", "path": sr.config_path})
    dur = float(sr.manifest["set"]["duration_ms"])
    half, full = dur / 2000.0, dur / 1000.0
    h = histories(sr, METHODS)
    n_done, n = len(sr.finished()), len(sr.rows)
    sec["notes"] = (
        f"{n_done}/{n} seeds finished. The paper simulated 4000 s and inferred from the first "
        f"2000 s; here every method infers from all {full:g} s of the run and the stored history "
        f"(one estimate per second) gives the scores at {half:g} s and at {full:g} s."
    )
    text_r = f"STDWI > Akrout > RDD in Pearson r at {half:g} s (mean over seeds in that order " \
             f"and in at least {ORDER_FRACTION:.0%} of the seeds)"  # fmt: skip
    text_s = f"STDWI > Akrout > RDD in sign accuracy at {half:g} s (mean over seeds in that " \
             f"order and in at least {ORDER_FRACTION:.0%} of the seeds)"  # fmt: skip
    text_t = "Mean data time to r >= 0.9 ordered STDWI < Akrout < RDD"
    early = [t * ctx.length_factor for t in ORIGINAL_LENGTHS_S]
    early = [t for t in early if t <= full]
    text_e = "STDWI > Akrout > RDD in Pearson r after " + ", ".join(f"{t:g}" for t in early) + \
             " s of data (the lengths the original code was run at; mean over seeds in that " \
             f"order and in at least {ORDER_FRACTION:.0%} of the seeds at each)"  # fmt: skip
    if not h:
        why = f"no finished runs ({n_done}/{n})"
        sec["checks"] = [claims.missing(t, why) for t in (text_e, text_r, text_s, text_t)]
        return sec
    sec["figures"].append({
        "path": figures.save(lambda: figures.fig_seed_curves(h, (half,)), ctx.out, "curves"),
        "caption": f"Pearson r and sign accuracy against data time, mean ± SD over "
                   f"{n_done} seeds; dotted: {half:g} s."})  # fmt: skip
    cols = ["method", f"r at {half:g} s", f"r at {full:g} s", f"sign acc. at {half:g} s",
            f"sign acc. at {full:g} s", "time to r ≥ 0.9 (s)", "seed 1: time to r ≥ 0.9 (s)",
            "original code, seed 1 (s)"]  # fmt: skip
    rows = []
    for m, d in h.items():
        t90 = d["time_to_r90_s"]
        never = int((~np.isfinite(t90)).sum())
        seed1 = dict(zip(d["seed"], t90, strict=True)).get(1, math.nan)
        rows.append([m, _ms(at_time(d, "pearson_r", half)), _ms(at_time(d, "pearson_r", full)),
                     _ms(at_time(d, "sign_accuracy", half)),
                     _ms(at_time(d, "sign_accuracy", full)),
                     _ms(t90, 0) + (f" ({never} never)" if never else ""),
                     claims.fmt(seed1, 0), f"{ORIGINAL_T90_S[m]:g}"])  # fmt: skip
    sec["tables"].append({"caption": f"Scores (mean ± SD over {n_done} seeds) and the data "
                                     "time to r ≥ 0.9 next to the original code's.",
                          "columns": cols, "rows": rows})  # fmt: skip
    sec["checks"] = [
        _ordering_at(text_e, h, early),
        claims.ordering(text_r, _aligned(h, "pearson_r", half), list(METHODS),
                        min_fraction=ORDER_FRACTION),
        claims.ordering(text_s, _aligned(h, "sign_accuracy", half), list(METHODS),
                        min_fraction=ORDER_FRACTION),
        claims.earlier(text_t, {m: d["time_to_r90_s"] for m, d in h.items()}, list(METHODS)),
    ]  # fmt: skip
    return sec


def _ordering_at(text: str, h: dict, times_s: list[float]) -> dict:
    """:func:`claims.ordering` of Pearson r at each of ``times_s``; passes when it passes at
    every one (the measured text lists each time)."""
    if not times_s:
        return claims.missing(text, "the run is shorter than the first of these lengths")
    parts = [
        claims.ordering(text, _aligned(h, "pearson_r", t), list(METHODS),
                        min_fraction=ORDER_FRACTION)
        for t in times_s
    ]  # fmt: skip
    measured = "; ".join(f"{t:g} s: {p['measured']}" for t, p in zip(times_s, parts, strict=True))
    bad = [f"{t:g} s ({p['reason']})" for t, p in zip(times_s, parts, strict=True)
           if p["status"] != claims.PASS]  # fmt: skip
    if any(p["status"] == claims.MISSING for p in parts):
        return claims.missing(text, "; ".join(bad))
    if bad:
        return claims.check(text, claims.FAIL, measured, "fails at " + "; ".join(bad))
    return claims.check(text, claims.PASS, measured)


def grid_means(sr, method: str, rkey: str, ckey: str):
    """(row values, column values, means (rows, cols)) of ``<method>.pearson_r`` over seeds."""
    rvals, cvals = sr.manifest["grid"][rkey], sr.manifest["grid"][ckey]
    means = np.full((len(rvals), len(cvals)), np.nan)
    for i, rv in enumerate(rvals):
        for j, cv in enumerate(cvals):
            vals = [r.get(f"{method}.pearson_r", np.nan) for r in sr.finished()
                    if r[rkey] == rv and r[ckey] == cv]  # fmt: skip
            means[i, j] = mean_sd(vals)[0]
    return rvals, cvals, means


def section_grids(ctx) -> dict:
    n = {_n_seeds(ctx.sweeps.get(name)) for name in GRIDS} - {0}
    sec = {"id": "hyperparameters", "title": "Hyperparameter grids "
                                             f"({'/'.join(map(str, sorted(n))) or 'no'} seeds)",
           "claim": "The paper's hyperparameters of each method are (close to) the best of "
                    "their grid.", "figures": [], "tables": [], "checks": [], "configs": [],
           "notes": ""}  # fmt: skip
    rows, notes = [], []
    for name, (method, rkey, ckey, paper, rlab, clab) in GRIDS.items():
        sr = ctx.sweeps.get(name)
        if sr is None:
            continue
        text = f"{method}: the paper's setting ({rlab} {paper[0]:g}, {clab} {paper[1]:g}) has " \
               f"a mean final r within {GRID_TOL} of the grid's best"  # fmt: skip
        sec["configs"].append({"name": f"{name} sweep", "path": sr.config_path})
        notes.append(f"{name}: {len(sr.finished())}/{len(sr.rows)} runs finished, "
                     f"{_seconds(float(sr.manifest['set']['duration_ms']))} each")  # fmt: skip
        rvals, cvals, means = grid_means(sr, method, rkey, ckey)
        pidx = (rvals.index(paper[0]), cvals.index(paper[1])) if (
            paper[0] in rvals and paper[1] in cvals) else None  # fmt: skip
        table = {(r, c): float(means[i, j]) for i, r in enumerate(rvals)
                 for j, c in enumerate(cvals)}  # fmt: skip
        sec["checks"].append(claims.near_best(text, table, tuple(paper), GRID_TOL))
        if np.isfinite(means).any():
            title = f"{method}: mean final r"
            path = figures.save(lambda m=means, rv=rvals, cv=cvals, p=pidx, rl=rlab, cl=clab,
                                t=title: figures.fig_heatmap(m, rv, cv, rl, cl, p, t),
                                ctx.out, f"grid-{method}")  # fmt: skip
            sec["figures"].append({"path": path, "caption": f"{method}: mean final Pearson r "
                                   "over seeds; red: the paper's setting."})  # fmt: skip
            i, j = np.unravel_index(np.nanargmax(means), means.shape)
            rows.append([method, f"{rlab} {rvals[i]:g}, {clab} {cvals[j]:g}",
                         claims.fmt(means[i, j]),
                         claims.fmt(means[pidx] if pidx else math.nan)])  # fmt: skip
    sec["tables"].append({"caption": "Best setting of each grid against the paper's.",
                          "columns": ["method", "best setting", "best mean r",
                                      "paper's setting: mean r"], "rows": rows})  # fmt: skip
    sec["notes"] = "; ".join(notes)
    return sec


def series(sr, key: str) -> tuple[list, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """x values of ``key`` and per method (mean, SD) over seeds of the final r at each."""
    xs = sr.manifest["grid"][key]
    out = {}
    for m in METHODS:
        stats = [mean_sd([r.get(f"{m}.pearson_r", np.nan) for r in sr.finished() if r[key] == x])
                 for x in xs]  # fmt: skip
        if any(math.isfinite(s[0]) for s in stats):
            out[m] = (np.array([s[0] for s in stats]), np.array([s[1] for s in stats]))
    return xs, out


def section_inputs(ctx, name: str) -> dict:
    is_frac = name == "fraction-active"
    key = "stimulation.fraction_active" if is_frac else "stimulation.correlation"
    label = "fraction of active inputs" if is_frac else "input correlation c"
    sr = ctx.sweeps.get(name)
    sec = {"id": name, "title": f"Final r against the {label} ({_n_seeds(sr)} seeds)",
           "claim": ("STDWI stays the best method whatever the fraction of active inputs."
                     if is_frac else
                     "Correlated inputs make inference harder for every method."),
           "figures": [], "tables": [], "checks": [], "configs": [], "notes": ""}  # fmt: skip
    if sr is None:
        return sec
    sec["configs"].append({"name": f"{name} sweep", "path": sr.config_path})
    dur = _seconds(float(sr.manifest["set"]["duration_ms"]))
    sec["notes"] = f"{len(sr.finished())}/{len(sr.rows)} runs finished, {dur} each."
    xs, s = series(sr, key)
    if s:
        path = figures.save(lambda: figures.fig_against(xs, s, label, paper_x=0.2 if is_frac
                                                        else 0.0), ctx.out, name)  # fmt: skip
        sec["figures"].append({"path": path, "caption": f"Final Pearson r ({dur} of data) "
                               f"against the {label}, mean ± SD over seeds."})  # fmt: skip
        sec["tables"].append({"caption": f"Final Pearson r, mean ± SD over seeds ({dur}).",
                              "columns": [label, *s],
                              "rows": [[f"{x:g}", *(f"{claims.fmt(s[m][0][i])} ± "
                                                    f"{claims.fmt(s[m][1][i])}" for m in s)]
                                       for i, x in enumerate(xs)]})  # fmt: skip
    table = {x: {m: float(v[0][i]) for m, v in s.items()} for i, x in enumerate(xs)}
    if is_frac:
        sec["checks"].append(claims.highest_everywhere(
            "STDWI has the highest mean final r at every fraction of active inputs", "stdwi",
            table))  # fmt: skip
    else:
        first = {m: table[xs[0]].get(m, math.nan) for m in METHODS} if xs else {}
        last = {m: table[xs[-1]].get(m, math.nan) for m in METHODS} if xs else {}
        sec["checks"].append(claims.falls(
            f"Mean final r falls from c = {xs[0]:g} to c = {xs[-1]:g} for every method",
            first, last))  # fmt: skip
    return sec


def first_time(d: dict, metric: str, level: float) -> np.ndarray:
    """Per seed: the first data time (s) with ``metric >= level`` (NaN: never)."""
    out = []
    for row in d[metric]:
        k = np.flatnonzero(row >= level)
        out.append(d["time_s"][k[0]] if k.size else math.nan)
    return np.array(out, float)


def section_wiener(ctx) -> dict:
    sr = ctx.sweeps.get("wiener")
    sec = {"id": "wiener", "title": "Wiener-process neurons: STDWI against the Bayesian "
                                    f"estimator ({_n_seeds(sr)} seeds)",
           "claim": "On Wiener-process neurons STDWI comes close to the Bayes-optimal "
                    "hitting-time estimator in sign accuracy.",
           "figures": [], "tables": [], "checks": [], "configs": [], "notes": ""}  # fmt: skip
    if sr is None:
        return sec
    sec["configs"].append({"name": "wiener sweep", "path": sr.config_path})
    full = float(sr.manifest["set"]["duration_ms"]) / 1000.0
    sec["notes"] = f"{len(sr.finished())}/{len(sr.rows)} seeds finished, {full:g} s each."
    h = histories(sr, ("bayes", "stdwi"))
    end = {m: at_time(d, "sign_accuracy", full) for m, d in h.items()}
    mean_end = {m: mean_sd(v)[0] for m, v in end.items()}
    if h:
        path = figures.save(lambda: figures.fig_seed_curves(h), ctx.out, "wiener")
        sec["figures"].append(
            {
                "path": path,
                "caption": "Pearson r and sign accuracy against "
                "data time, mean ± SD over seeds (501 one-to-one pairs).",
            }
        )
        sec["tables"].append({"caption": "Scores at the end and the first time the sign "
                              "accuracy reached 0.9 (mean ± SD over seeds).",
                              "columns": ["method", f"r at {full:g} s",
                                          f"sign acc. at {full:g} s", "time to sign acc. ≥ 0.9 (s)"],
                              "rows": [[m, _ms(at_time(d, "pearson_r", full)), _ms(end[m]),
                                        _ms(first_time(d, "sign_accuracy", 0.9), 1)]
                                       for m, d in h.items()]})  # fmt: skip
    for m in ("bayes", "stdwi"):
        sec["checks"].append(claims.compare(
            f"{m}: mean sign accuracy at {full:g} s above 0.9", "mean sign accuracy",
            mean_end.get(m), ">", 0.9))  # fmt: skip
    gap = mean_end.get("bayes", math.nan) - mean_end.get("stdwi", math.nan)
    sec["checks"].append(claims.compare(
        f"STDWI's mean sign accuracy at {full:g} s within 0.05 of the Bayesian estimator's",
        "Bayes - STDWI", gap, "<=", 0.05))  # fmt: skip
    return sec


def analyze(ctx) -> list[dict]:
    """The report's sections from the collected sweeps of ``ctx``."""
    return [section_curves(ctx), section_grids(ctx), section_inputs(ctx, "fraction-active"),
            section_inputs(ctx, "correlation"), section_wiener(ctx)]  # fmt: skip


PAPER = Paper(
    id="ahmad2021",
    title="Overcoming the weight transport problem via spike-timing-dependent weight inference",
    authors="Nasir Ahmad, Luca Ambrogioni, Marcel A. J. van Gerven",
    year=2021,
    venue="Neurons, Behavior, Data analysis, and Theory 5(3)",
    doi="10.51628/001c.27423",
    experiments=(
        Experiment("paper-seeds", "STDWI, Akrout and RDD over 10 seeds"),
        Experiment("stdwi-taus", "STDWI tau_fast x tau_slow"),
        Experiment("akrout-batch-decay", "Akrout batch x decay"),
        Experiment("rdd-alpha-window", "RDD alpha x window"),
        Experiment("fraction-active", "fraction of active inputs"),
        Experiment("correlation", "input correlation"),
        Experiment("wiener", "Wiener-process neurons: Bayes and STDWI"),
    ),
    analyze=analyze,
)  # fmt: skip
