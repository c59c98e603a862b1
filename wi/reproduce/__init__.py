"""Reproduce a paper's figures and claims: ``wi reproduce PAPER [--out DIR]``.

A paper is a list of experiments, each a sweep file in ``configs/reproduce/<paper>/`` (the
format of ``wi sweep``), plus an analysis that turns the collected sweeps into figures, tables
and checks of the paper's claims. The reproduction directory::

    DIR/plan.json          the plan: experiments, runs, simulations, estimated CPU, disk, wall
    DIR/configs/           the base configs the sweeps derive from (copied)
    DIR/sweeps/<name>/     one sweep directory per experiment, with the sweep.yaml it ran and
                           results.csv (``wi collect``)
    DIR/figures/*.png      the figures
    DIR/results.json       what the report shows (schema ``wi-reproduction``), written last
    DIR/report.html        the report (:mod:`wi.reproduce.report`; ``wi report DIR`` redraws it)

Re-running the same command resumes: finished points are skipped, the analysis is redone.
A check is ``pass``, ``fail`` (the claim does not hold: a scientific result, not an error) or
``not-reproduced`` (data missing, e.g. failed points), always with the measured numbers.

Library entry points: :func:`wi.reproduce.recipe.make_plan`,
:func:`wi.reproduce.run.reproduce`, :data:`PAPERS`, :func:`paper`.
"""

from __future__ import annotations

#: Paper ids accepted by ``wi reproduce`` -> the module holding their recipe.
PAPERS = {"ahmad2021": "wi.reproduce.ahmad2021", "gutierrez2019": "wi.reproduce.gutierrez2019"}


def paper(paper_id: str):
    """The :class:`wi.reproduce.recipe.Paper` of ``paper_id`` (UserError with a suggestion for
    an unknown id)."""
    import importlib

    from wi.errors import UserError, did_you_mean

    if paper_id not in PAPERS:
        raise UserError(
            f"unknown paper {paper_id!r}{did_you_mean(paper_id, PAPERS)}; "
            f"one of {', '.join(PAPERS)}",
            file="wi reproduce",
        )
    return importlib.import_module(PAPERS[paper_id]).PAPER
