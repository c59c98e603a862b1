"""The HTML of the reproduction report: one self-contained page built from checked results.

Every text from results.json goes through :func:`_esc` (it is user-controlled). The page has
inline CSS only, figures as ``data:`` URIs, a Content-Security-Policy that forbids scripts and
network loads, and a print stylesheet (marks keep their words, config files print in full).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

from wi import __version__

MARKS = {
    "pass": ("\u2713", "pass"),
    "fail": ("\u2717", "fail"),
    "not-reproduced": ("?", "not reproduced"),
}
_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

CSS = """
:root { --pass: #1a7f37; --fail: #c62828; --nr: #8a5a00; --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: #1f2328; background: #fff; max-width: 72rem; margin: 0 auto;
       padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; line-height: 1.25; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .6rem; padding-bottom: .3rem;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
a { color: #0969da; }
.byline { color: #57606a; margin: 0 0 1rem; }
.kicker { text-transform: uppercase; letter-spacing: .06em; font-size: .8rem; color: #57606a;
          margin: 0; }
.warning { border: 3px solid var(--fail); background: #fdecea; color: #7a1010; padding: .8rem 1rem;
           margin: 1rem 0; font-size: 1.1rem; }
.tally { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.tally div { border: 2px solid var(--line); border-radius: 6px; padding: .5rem 1rem;
             min-width: 10rem; }
.tally b { display: block; font-size: 2rem; line-height: 1.1; }
.tally .pass { border-color: var(--pass); color: var(--pass); }
.tally .fail { border-color: var(--fail); color: var(--fail); }
.tally .not-reproduced { border-color: var(--nr); color: var(--nr); }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border: 1px solid var(--line); padding: .35rem .6rem; text-align: left;
         vertical-align: top; }
th { background: var(--soft); }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3rem 0; }
table.facts { width: auto; }
table.facts th { font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.na { color: #57606a; font-style: italic; }
.mark { display: inline-block; font-weight: 700; white-space: nowrap; padding: 0 .4rem;
        border-radius: 4px; color: #fff; }
.mark.pass { background: var(--pass); }
.mark.fail { background: var(--fail); }
.mark.not-reproduced { background: var(--nr); }
tr.fail td { background: #fff5f5; }
tr.not-reproduced td { background: #fffaf0; }
blockquote.claim { margin: .6rem 0 1rem; padding: .5rem 1rem; border-left: 4px solid #0969da;
                   background: var(--soft); }
figure { margin: 1rem 0; break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: #57606a; font-size: .95rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
            monospace; font-size: .88rem; }
pre { background: var(--soft); border: 1px solid var(--line); padding: .7rem; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; }
.command { background: var(--soft); padding: .1rem .3rem; word-break: break-all; }
.notes { white-space: pre-line; }
details { margin: .4rem 0; }
summary { cursor: pointer; }
.print-only { display: none; }
footer { margin-top: 3rem; color: #57606a; font-size: .85rem; border-top: 1px solid var(--line);
         padding-top: .5rem; }
@media print {
  @page { margin: 15mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; }
  a.doi::after { content: " (" attr(href) ")"; }
  h2 { break-after: avoid; }
  section > h2 { break-before: page; }
  h3, caption { break-after: avoid; }
  tr, figure, blockquote { break-inside: avoid; }
  details.config { display: none; }
  .print-only { display: block; }
  pre { white-space: pre-wrap; overflow: visible; }
}
"""


def _esc(value) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def _mark(status: str) -> str:
    """The pass / fail / not-reproduced mark: a symbol and a word, coloured."""
    symbol, word = MARKS[status]
    return f'<span class="mark {status}">{symbol} {word}</span>'


def _duration(seconds: float) -> str:
    """``1 h 02 min 03 s (3723.4 s)``; short durations in seconds only."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"
    return f"{text} ({seconds:,.1f} s)"


def _size(n_bytes: int) -> str:
    """``117.7 MiB (123,456,789 bytes)``."""
    value, unit = float(n_bytes), "bytes"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{n_bytes:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n_bytes:,} bytes)"


def _doi_url(doi: str) -> str:
    return "https://doi.org/" + quote(doi, safe="/()._-;:")


def _anchor(number: int) -> str:
    return f"section-{number}"


def _tally(checks: list[dict]) -> dict[str, int]:
    return {status: sum(c["status"] == status for c in checks) for status in MARKS}


def _header(res: dict) -> list[str]:
    paper = res["paper"]
    url = _doi_url(paper["doi"])
    out = [
        '<p class="kicker">Reproduction report</p>',
        f"<h1>{_esc(paper['title'])}</h1>",
        f'<p class="byline">{_esc(paper["authors"])} ({_esc(paper["year"])}). '
        f"<i>{_esc(paper['venue'])}</i>. "
        f'<a class="doi" href="{_esc(url)}">doi:{_esc(paper["doi"])}</a></p>',
    ]
    departure = _departure(res)
    if departure:
        out.append(
            f'<div class="warning" role="alert"><strong>\u26a0 {_esc(departure)}.</strong> '
            f"{_esc(_lengths(res))}: these numbers do not test the paper's claims as the paper "
            "did.</div>"
        )
    return out


def _departure(res: dict) -> str | None:
    """The headline of the warning when the run departs from the paper's lengths, else None."""
    factor = res["length_factor"]
    if res["quick"]:
        return "Quick run \u2014 shortened lengths: not the paper's protocol"
    if factor is not None and factor < 1:
        return "Scaled run \u2014 shortened lengths: not the paper's protocol"
    if factor is not None and factor > 1:
        return "Scaled run \u2014 longer lengths: not the paper's protocol"
    return None


def _lengths(res: dict) -> str:
    factor = res["length_factor"]
    if factor is not None and factor != 1:
        return f"Simulated lengths \u00d7 {factor:.3g} of the paper's"
    return "A smoke test (shortened protocol)" if res["quick"] else "The paper's lengths"


def _summary(res: dict, checks: list[dict]) -> list[str]:
    tally = _tally(checks)
    boxes = "".join(
        f'<div class="{status}"><b>{tally[status]}</b>{MARKS[status][0]} {word}</div>'
        for status, word in (
            ("pass", "passed"),
            ("fail", "failed"),
            ("not-reproduced", "not reproduced"),
        )
    )
    facts = [
        (
            "Checks",
            f"{len(checks)}: {tally['pass']} passed, {tally['fail']} failed, "
            f"{tally['not-reproduced']} not reproduced",
        ),
        ("Protocol", f"{_departure(res)}. {_lengths(res)}" if _departure(res) else _lengths(res)),
        ("Wall time (every invocation)", _duration(res["wall_s"])),
        ("CPU time (every invocation)", _duration(res["cpu_s"])),
        ("Runs", f"{res['n_runs']:,}"),
        ("Simulations", f"{res['n_simulations']:,}"),
        ("Disk", _size(res["disk_bytes"])),
        ("Started (UTC)", res["started_utc"]),
        ("Finished (UTC)", res["finished_utc"]),
        ("wi version", res["wi_version"]),
    ]
    rows = "".join(f'<tr><th scope="row">{_esc(k)}</th><td>{_esc(v)}</td></tr>' for k, v in facts)
    return [
        '<h2 id="summary">Summary</h2>',
        f'<div class="tally">{boxes}</div>',
        f'<table class="facts">{rows}<tr><th scope="row">Command</th>'
        f'<td><code class="command">{_esc(res["command"] or "(not recorded)")}</code></td></tr>'
        "</table>",
    ]


def _all_checks(res: dict) -> list[str]:
    rows = []
    for number, sec in enumerate(res["sections"], 1):
        link = f'<a href="#{_anchor(number)}">{number}. {_esc(sec["title"])}</a>'
        for check in sec["checks"]:
            rows.append(
                f'<tr class="{check["status"]}"><td>{link}</td>'
                f"<td>{_esc(check['text'])}</td><td>{_mark(check['status'])}</td>"
                f"<td>{_esc(check['measured'])}</td><td>{_esc(check['reason'])}</td></tr>"
            )
    if not rows:
        return ['<h2 id="checks">All checks</h2>', "<p>No checks were made.</p>"]
    head = "<tr><th>Section</th><th>Check</th><th>Result</th><th>Measured</th><th>Why</th></tr>"
    return [
        '<h2 id="checks">All checks</h2>',
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>",
    ]


def _cell(value) -> str:
    """A table cell: text as given, numbers right-aligned, null as ``n/a``."""
    if value is None:
        return '<td class="na">n/a</td>'
    cls = "" if isinstance(value, str) else ' class="num"'
    return f"<td{cls}>{_esc(value)}</td>"


def _section(sec: dict, number: int, directory: Path, figure_no: list[int]) -> list[str]:
    tally = _tally(sec["checks"])
    marks = " ".join(f"{n} \u00d7 {_mark(s)}" for s, n in tally.items() if n)
    out = [
        f'<section id="{_anchor(number)}">',
        f"<h2>{number}. {_esc(sec['title'])}</h2>",
        f"<p>{marks}</p>" if marks else "",
        '<blockquote class="claim"><strong>The paper claims:</strong> '
        f"{_esc(sec['claim'])}</blockquote>",
    ]
    for fig in sec["figures"]:
        figure_no[0] += 1
        data = base64.b64encode((directory / fig["path"]).read_bytes()).decode("ascii")
        caption = _esc(fig["caption"])
        out.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{caption or _esc(fig["path"])}">'
            f"<figcaption><strong>Figure {figure_no[0]}.</strong> {caption} "
            f"<small>({_esc(fig['path'])})</small></figcaption></figure>"
        )
    for table in sec["tables"]:
        head = "".join(f"<th>{_esc(c)}</th>" for c in table["columns"])
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table["rows"])
        caption = f"<caption>{_esc(table['caption'])}</caption>" if table["caption"] else ""
        out.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if sec["checks"]:
        out.append("<h3>Checks</h3>")
        rows = "".join(
            f'<tr class="{c["status"]}"><td>{_esc(c["text"])}</td><td>{_mark(c["status"])}</td>'
            f"<td>{_esc(c['measured'])}</td><td>{_esc(c['reason'])}</td></tr>"
            for c in sec["checks"]
        )
        out.append(
            "<table><thead><tr><th>Check</th><th>Result</th><th>Measured</th><th>Why</th>"
            "</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if sec["notes"].strip():
        out += ["<h3>Notes</h3>", f'<p class="notes">{_esc(sec["notes"])}</p>']
    if sec["configs"]:
        out.append("<h3>Exact configs</h3>")
    for cfg in sec["configs"]:
        text = _esc((directory / cfg["path"]).read_text(encoding="utf-8"))
        label = f"{_esc(cfg['name'])} \u2014 <code>{_esc(cfg['path'])}</code>"
        out.append(f'<details class="config"><summary>{label}</summary><pre>{text}</pre></details>')
        out.append(f'<div class="print-only"><p>{label}</p><pre>{text}</pre></div>')
    out.append("</section>")
    return out


def render(results: dict, directory: Path) -> str:
    """The report page of checked results.

    Parameters
    ----------
    results : dict
        What :func:`wi.reproduce.report.read_results` returns (optional keys filled in).
    directory : pathlib.Path
        The reproduction directory; the figure and config paths of ``results`` are relative
        to it. The figures are embedded as ``data:`` URIs, the configs as text.

    Returns
    -------
    str
        The whole HTML document.
    """
    checks = [c for sec in results["sections"] for c in sec["checks"]]
    figure_no = [0]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Reproduction: {_esc(results['paper']['title'])}</title>",
        f"<style>{CSS}</style></head><body><main>",
        *_header(results),
        *_summary(results, checks),
        *_all_checks(results),
    ]
    for number, sec in enumerate(results["sections"], 1):
        parts += _section(sec, number, directory, figure_no)
    parts += [
        "</main><footer>",
        f"Written by wi {_esc(__version__)} from results.json (schema wi-reproduction, version "
        f"{_esc(results['schema_version'])}). This page is derived data: <code>wi report</code> "
        "rebuilds it from results.json.",
        "</footer></body></html>",
        "",
    ]
    return "\n".join(p for p in parts if p)
