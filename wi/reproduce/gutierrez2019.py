"""Gutierrez & Denève: adaptation in the orientation autoencoder (single stimulus, tuning
curves before/after an adaptor, tilt after-effect), heterogeneous (decoder norms 3 and 9)
against homogeneous (norm 3 only) networks.

Experiments: ``configs/reproduce/gutierrez2019/*.yaml``; the checks read the summary numbers
each experiment stores (:mod:`wi.autoencoder.experiments`).
"""

from __future__ import annotations

import math

import h5py
import numpy as np

from wi.reproduce import claims, figures
from wi.reproduce.recipe import Experiment, Paper

KEY = "network.ring.weight_norms"
NETWORKS = {"heterogeneous": [3, 9], "homogeneous": [3]}
LABELS = {"heterogeneous": "heterogeneous (norms 3, 9)", "homogeneous": "homogeneous (norm 3)"}


def _row(sr, network: str) -> dict | None:
    want = [float(v) for v in NETWORKS[network]]
    for r in sr.finished() if sr is not None else []:
        if [float(v) for v in r.get(KEY, [])] == want:
            return r
    return None


def _value(row: dict | None, name: str) -> float:
    if row is None:
        return math.nan
    v = row.get(f"autoencoder.{name}")
    return math.nan if v is None else float(v)


def _run_figures(ctx, sr, row, names: dict[str, str], prefix: str) -> list[dict]:
    """The ``wi plot`` figures ``names`` ({figure: caption}) of one run, saved under figures/."""
    from wi.plot.autoencoder import figures as ae_figures

    out = []
    with h5py.File(sr.run_file(row), "r") as h5:
        for name, build in ae_figures(h5):
            if name in names:
                path = figures.save(build, ctx.out, f"{prefix}-{name}")
                out.append({"path": path, "caption": names[name]})
    return out


def _section(id_: str, title: str, claim: str) -> dict:
    return {"id": id_, "title": title, "claim": claim, "figures": [], "tables": [],
            "checks": [], "configs": [], "notes": ""}  # fmt: skip


def _missing_reason(sr, network: str) -> str:
    if sr is None:
        return "experiment not run"
    return f"the {network} run did not finish ({len(sr.finished())}/{len(sr.rows)} finished)"


def section_single(ctx) -> dict:
    sr = ctx.sweeps.get("single")
    sec = _section("single", "Reconstruction and rates under adaptation (single stimulus)",
                   "While the stimulus stays on, adaptation lowers the population rate and "
                   "moves activity from high-gain to low-gain neurons, and the readout keeps "
                   "representing the stimulus.")  # fmt: skip
    het = _row(sr, "heterogeneous")
    texts = ("Population rate falls (late < early window), heterogeneous network",
             "Activity moves from high-gain to low-gain neurons (high-gain rate falls, "
             "low-gain rate rises)",
             "The representation is kept: late reconstruction error within 0.05 of the early "
             "one, heterogeneous network")  # fmt: skip
    if sr is not None:
        sec["configs"].append({"name": "single sweep", "path": sr.config_path})
    if het is None:
        sec["checks"] = [claims.missing(t, _missing_reason(sr, "heterogeneous")) for t in texts]
        return sec
    v = {k: _value(het, k) for k in (
        "population_rate_early_hz", "population_rate_late_hz", "high_gain_rate_early_hz",
        "high_gain_rate_late_hz", "low_gain_rate_early_hz", "low_gain_rate_late_hz",
        "reconstruction_error_early", "reconstruction_error_late")}  # fmt: skip
    sec["figures"] += _run_figures(
        ctx,
        sr,
        het,
        {
            "ae_readout": "Stimulus phi and readout phi_hat (heterogeneous network).",
            "ae_raster": "Spikes ordered by preferred orientation, coloured by gain.",
            "ae_rate_by_gain": "Population rate of high-gain and low-gain neurons.",
        },
        "single",
    )
    sec["checks"].append(
        claims.compare(
            texts[0],
            "late / early population rate",
            v["population_rate_late_hz"] / v["population_rate_early_hz"],
            "<",
            1.0,
        )
    )
    shift = min(
        v["high_gain_rate_early_hz"] - v["high_gain_rate_late_hz"],
        v["low_gain_rate_late_hz"] - v["low_gain_rate_early_hz"],
    )
    chk = claims.compare(texts[1], "min(high-gain fall, low-gain rise) in Hz", shift, ">", 0.0, 1)
    chk["measured"] += (
        f" (high gain {v['high_gain_rate_early_hz']:.0f} -> "
        f"{v['high_gain_rate_late_hz']:.0f} Hz, low gain "
        f"{v['low_gain_rate_early_hz']:.0f} -> {v['low_gain_rate_late_hz']:.0f} Hz)"
    )
    sec["checks"].append(chk)
    sec["checks"].append(
        claims.compare(
            texts[2],
            "late - early error",
            v["reconstruction_error_late"] - v["reconstruction_error_early"],
            "<=",
            0.05,
        )
    )
    return sec  # fmt: skip


def section_tuning(ctx) -> dict:
    sr = ctx.sweeps.get("tuning")
    sec = _section("tuning", "Tuning curves before and after adaptation",
                   "After adaptation, high-gain neurons preferring the adaptor are suppressed "
                   "while low-gain neurons on the flanks are facilitated.")  # fmt: skip
    het = _row(sr, "heterogeneous")
    if sr is not None:
        sec["configs"].append({"name": "tuning sweep", "path": sr.config_path})
        n = sr.manifest["set"].get("tuning.n_test_orientations")
        sec["notes"] = f"{n or 'default'} test orientations, heterogeneous network."
    if het is not None:
        sec["figures"] += _run_figures(ctx, sr, het, {
            "ae_tuning": "Tuning curves before (dashed) and after (solid) a 1.5 s adaptor at "
                         "90 deg."}, "tuning")  # fmt: skip
    sec["checks"] = [
        claims.compare("High-gain neurons near the adaptor are suppressed (after / before rate "
                       "< 1)", "after / before", _value(het, "high_gain_near_adaptor_ratio"),
                       "<", 1.0),
        claims.compare("Low-gain flank neurons are facilitated (after / before rate > 1)",
                       "after / before", _value(het, "low_gain_flank_ratio"), ">", 1.0),
    ]  # fmt: skip
    if het is None:
        for c in sec["checks"]:
            c["reason"] = _missing_reason(sr, "heterogeneous")
    return sec


def _tilt_curve(sr, row) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(sr.run_file(row), "r") as h5:
        g = h5["autoencoder/tilt"]
        return np.asarray(g["offset_deg"][()], float), np.asarray(g["bias_deg"][()], float)


def section_tilt(ctx) -> dict:
    sr = ctx.sweeps.get("tilt")
    sec = _section(
        "tilt",
        "Tilt after-effect",
        "After adaptation, test orientations near the adaptor are decoded as "
        "repelled from it (peak around 15-25 deg), far ones weakly attracted.",
    )
    rows = {k: _row(sr, k) for k in NETWORKS}
    if sr is not None:
        sec["configs"].append({"name": "tilt sweep", "path": sr.config_path})
    curves = {LABELS[k]: _tilt_curve(sr, r) for k, r in rows.items() if r is not None}
    if curves:
        sec["figures"].append(
            {
                "path": figures.save(lambda: figures.fig_tilt_compare(curves), ctx.out, "tilt"),
                "caption": "Bias of the decoded test orientation after "
                "adaptation (> 0: away from the adaptor).",
            }
        )
        if len(curves) == 2:
            (a, b) = curves.values()
            same = np.array_equal(a[1], b[1])
            sec["notes"] = (
                "The two networks give identical curves: at the test contrast "
                "(C = 5) only the high-gain neurons fire."
                if same
                else ""
            )
    het = rows["heterogeneous"]
    peak = _value(het, "offset_of_max_repulsion_deg")
    chk = claims.compare(
        "Repulsion near the adaptor: the largest bias is positive, at 10-30 deg from the adaptor",
        "largest bias (deg)",
        _value(het, "max_repulsion_deg"),
        ">",
        0.0,
        2,
    )
    if chk["status"] != claims.MISSING:
        chk["measured"] += f" at {peak:g} deg"
        if not 10 <= peak <= 30:
            chk.update(status=claims.FAIL, reason="peak outside 10-30 deg")
    sec["checks"] = [
        chk,
        claims.compare(
            "Attraction far from the adaptor: mean bias beyond 60 deg < 0",
            "mean bias (deg)",
            _value(het, "mean_bias_beyond_60deg"),
            "<",
            0.0,
        ),
    ]
    if het is None:
        for c in sec["checks"]:
            c["reason"] = _missing_reason(sr, "heterogeneous")
    return sec  # fmt: skip


def section_heterogeneity(ctx) -> dict:
    sec = _section("heterogeneity", "Heterogeneous against homogeneous gains",
                   "Gain heterogeneity lets the network adapt while keeping its representation: "
                   "activity can move to low-gain neurons.")  # fmt: skip
    single, tuning, tilt = (ctx.sweeps.get(k) for k in ("single", "tuning", "tilt"))
    metrics = [(single, "reconstruction_error_early", "reconstruction error, early"),
               (single, "reconstruction_error_late", "reconstruction error, late"),
               (single, "population_rate_early_hz", "population rate early (Hz)"),
               (single, "population_rate_late_hz", "population rate late (Hz)"),
               (single, "phi_hat_fraction", "|phi_hat| / |phi|"),
               (tuning, "population_rate_before_hz", "tuning: population rate before (Hz)"),
               (tuning, "population_rate_after_hz", "tuning: population rate after (Hz)"),
               (tilt, "max_repulsion_deg", "tilt: largest repulsion (deg)")]  # fmt: skip
    rows = []
    for sr, name, label in metrics:
        rows.append([label, *(claims.fmt(_value(_row(sr, k), name), 3) for k in NETWORKS)])
    sec["tables"].append({"caption": "Summary numbers of each experiment for both networks.",
                          "columns": ["quantity", *(LABELS[k] for k in NETWORKS)],
                          "rows": rows})  # fmt: skip
    err = {
        k: _value(_row(single, k), "reconstruction_error_late")
        - _value(_row(single, k), "reconstruction_error_early")
        for k in NETWORKS
    }
    text = (
        "Adaptation costs the heterogeneous network less reconstruction accuracy than the "
        "homogeneous one (smaller late - early error)"
    )
    if not all(math.isfinite(v) for v in err.values()):
        sec["checks"].append(claims.missing(text, "a single run of a network did not finish"))
    else:
        ok = err["heterogeneous"] < err["homogeneous"]
        sec["checks"].append(claims.check(
            text, claims.PASS if ok else claims.FAIL,
            f"heterogeneous {err['heterogeneous']:+.3f}, homogeneous {err['homogeneous']:+.3f}",
            "" if ok else "the homogeneous network loses less"))  # fmt: skip
    if single is not None:
        groups = {
            LABELS[k].split(" (")[0]: {
                "early": _value(_row(single, k), "population_rate_early_hz"),
                "late": _value(_row(single, k), "population_rate_late_hz"),
            }
            for k in NETWORKS
        }
        if any(math.isfinite(v) for g in groups.values() for v in g.values()):
            sec["figures"].append({"path": figures.save(lambda: figures.fig_bars(
                groups, "population rate (Hz)", "Population rate, early vs late"), ctx.out,
                "heterogeneity-rates"), "caption": "Population rate in the early and late "
                "windows of the single stimulus, per network."})  # fmt: skip
        sec["configs"].append({"name": "single sweep", "path": single.config_path})
    sec["notes"] = (
        "The homogeneous network is the high-gain half of the heterogeneous one "
        "(100 neurons, norm 3); its split into high and low gain is meaningless."
    )
    return sec


def analyze(ctx) -> list[dict]:
    return [section_single(ctx), section_tuning(ctx), section_tilt(ctx),
            section_heterogeneity(ctx)]  # fmt: skip


PAPER = Paper(
    id="gutierrez2019",
    title="Population adaptation in efficient balanced networks",
    authors="Gabrielle J. Gutierrez, Sophie Denève",
    year=2019,
    venue="eLife 8:e46926",
    doi="10.7554/eLife.46926",
    experiments=(
        Experiment("single", "single stimulus, both networks", quick_seeds=None),
        Experiment("tuning", "tuning curves before/after an adaptor",
                   quick_set={"tuning.n_test_orientations": 18}, quick_seeds=None),
        Experiment("tilt", "tilt after-effect", quick_set={"tilt.n_offsets": 18},
                   quick_seeds=None),
    ),
    analyze=analyze,
    quick_divisor=1.0,  # the autoencoder runs take seconds: a quick run only tests fewer angles
)  # fmt: skip
