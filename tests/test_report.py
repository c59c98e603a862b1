"""The reproduction report: results.json checks, the HTML page, its atomic write, a browser.

The fixture builds a reproduction directory the way ``wi reproduce`` lays it out (brief of the
``wi-reproduction`` schema): real PNG figures drawn by matplotlib, the shipped configs copied
in, and a results.json whose sections, checks and statuses vary with the seed.
"""

from __future__ import annotations

import base64
import errno
import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wi.errors import UserError  # noqa: E402
from wi.reproduce import html_browser  # noqa: E402
from wi.reproduce.report import read_results, write_pdf, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOI = "10.51628/001c.27963"
STATUSES = ("pass", "fail", "not-reproduced")
VOID = {"meta", "img", "br", "hr", "input", "link", "col", "area", "base", "wbr", "source"}
HAS_CHROMIUM = html_browser.find_chromium() is not None


def _figure(path: Path, rng: np.random.Generator) -> None:
    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=60)
    t = np.arange(50)
    for _ in range(rng.integers(1, 4)):
        ax.plot(t, np.cumsum(rng.normal(size=t.size)))
    ax.set_xlabel("time (s)")
    fig.savefig(path)
    plt.close(fig)


def build(root: Path, seed: int, *, quick: bool = False) -> dict:
    """A reproduction directory under ``root``; returns the results it holds."""
    rng = np.random.default_rng(seed)
    (root / "figures").mkdir(parents=True)
    sweep = root / "sweeps" / "paper-seeds"
    sweep.mkdir(parents=True)
    shutil.copyfile(ROOT / "configs" / "sweeps" / "paper_seeds.yaml", sweep / "sweep.yaml")
    shutil.copyfile(ROOT / "configs" / "paper.yaml", sweep / "paper.yaml")
    sections = []
    for s in range(int(rng.integers(2, 4))):
        figures = []
        for f in range(int(rng.integers(1, 3))):
            rel = f"figures/s{s}-f{f}.png"
            _figure(root / rel, rng)
            figures.append({"path": rel, "caption": f"Correlation over time, panel {s}.{f}"})
        checks = []
        for c in range(int(rng.integers(1, 5))):
            status = STATUSES[int(rng.integers(3))]
            checks.append(
                {
                    "text": f"check {s}.{c}: STDWI > Akrout at {int(rng.integers(100, 4000))} s",
                    "status": status,
                    "measured": f"holds in {int(rng.integers(0, 11))}/10 seeds",
                    "reason": "" if status == "pass" else f"reason {s}.{c}: seeds disagree",
                }
            )
        sections.append(
            {
                "id": f"sec{s}",
                "title": f"Experiment {s}",
                "claim": f"Claim {s}: STDWI recovers the weights better than RDD.",
                "figures": figures,
                "tables": [
                    {
                        "caption": f"Table {s}",
                        "columns": ["method", "r at 2000 s", "n"],
                        "rows": [["stdwi", f"{rng.uniform():.3f} ± 0.004", 10], ["rdd", ".5", 10]],
                    }
                ],
                "checks": checks,
                "configs": [
                    {"name": "paper-seeds sweep", "path": "sweeps/paper-seeds/sweep.yaml"},
                    {"name": "base config", "path": "sweeps/paper-seeds/paper.yaml"},
                ],
                "notes": f"Lengths: {int(rng.integers(10, 100))} s, not 4000 s.\nSeeds 1..10.",
            }
        )
    results = {
        "schema": "wi-reproduction",
        "schema_version": 1,
        "paper": {
            "id": "ahmad2021",
            "title": "Overcoming the weight transport problem via spike-timing-dependent "
            "weight inference",
            "authors": "Ahmad, Ambrogioni & van Gerven",
            "year": 2021,
            "venue": "Neurons, Behavior, Data analysis, and Theory",
            "doi": DOI,
        },
        "wi_version": "0.1.0",
        "command": f"wi reproduce ahmad2021 --out {root} --jobs 2",
        "quick": quick,
        "started_utc": "2026-12-01T00:00:00Z",
        "finished_utc": "2026-12-01T01:02:03Z",
        "wall_s": 3723.4,
        "cpu_s": 7000.25,
        "n_runs": int(rng.integers(10, 400)),
        "n_simulations": 60,
        "disk_bytes": 123456789,
        "sections": sections,
    }
    save(root, results)
    return results


def save(root: Path, results: dict) -> None:
    (root / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))


class Tags(HTMLParser):
    """Checks that every opened element is closed in order; collects images and links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_page_is_well_formed_and_shows_every_check(tmp_path, seed):
    results = build(tmp_path, seed)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    tags = parse(page)
    assert tags.errors == [] and tags.stack == []
    assert page.startswith("<!DOCTYPE html>")
    checks = [c for sec in results["sections"] for c in sec["checks"]]
    text = " ".join(tags.text)
    for check in checks:
        assert text.count(check["text"]) == 2  # the table of all checks and its section
        assert check["measured"] in text
        if check["reason"]:
            assert text.count(check["reason"]) == 2
    words = {"pass": "\u2713 pass", "fail": "\u2717 fail", "not-reproduced": "? not reproduced"}
    for status, word in words.items():
        n = sum(c["status"] == status for c in checks)
        marks = re.findall(rf'<span class="mark {status}">([^<]*)</span>', page)
        headers = sum(
            any(c["status"] == status for c in sec["checks"]) for sec in results["sections"]
        )
        assert marks == [word] * (2 * n + headers)  # rows of both tables + section headers
        label = {"pass": "passed", "fail": "failed", "not-reproduced": "not reproduced"}[status]
        assert re.search(rf'<div class="{status}"><b>{n}</b>[^<]*{label}</div>', page)
    for sec in results["sections"]:
        assert sec["claim"] in text and sec["title"] in text
        for line in sec["notes"].splitlines():
            assert line in text
        for row in sec["tables"][0]["rows"]:
            for cell in row:
                assert f">{html.escape(str(cell))}</td>" in page
    assert f"{results['n_runs']:,}" in text
    assert "1 h 02 min 03 s" in text and "117.7 MiB" in text
    assert results["command"] in text
    assert "not the paper's protocol" not in text  # not a quick run


@pytest.mark.parametrize(
    ("quick", "factor", "headline"),
    [
        (True, 0.005, "Quick run \u2014 shortened lengths: not the paper's protocol"),
        (True, 1.0, "Quick run \u2014 shortened lengths: not the paper's protocol"),
        (False, 0.25, "Scaled run \u2014 shortened lengths: not the paper's protocol"),
        (False, 2.0, "Scaled run \u2014 longer lengths: not the paper's protocol"),
        (False, 1.0, None),
        (False, None, None),
    ],
)
def test_runs_off_the_paper_protocol_are_flagged(tmp_path, quick, factor, headline):
    results = build(tmp_path, 4, quick=quick)
    if factor is not None:
        results["length_factor"] = factor
    save(tmp_path, results)
    page = write_report(tmp_path).read_text()
    text = " ".join(parse(page).text)
    warnings = re.findall(
        r'<div class="warning" role="alert"><strong>\u26a0 ([^<]*)\.</strong>', page
    )
    assert [html.unescape(w) for w in warnings] == ([headline] if headline else [])
    assert ("not the paper's protocol" in text) == (headline is not None)
    if factor not in (None, 1.0):
        assert f"Simulated lengths \u00d7 {factor:g} of the paper's" in text


def test_links_lead_to_sections_and_null_cells_read_na(tmp_path):
    results = build(tmp_path, 17)
    results["sections"][1]["tables"][0]["rows"][0][1] = None
    results["sections"][0]["id"] = 'id with spaces & "quotes"'
    save(tmp_path, results)
    page = write_report(tmp_path).read_text()
    tags = parse(page)
    ids = set(re.findall(r' id="([^"]+)"', page))
    internal = [h[1:] for h in tags.links if h.startswith("#")]
    assert len(internal) == sum(len(s["checks"]) for s in results["sections"])
    assert set(internal) <= ids
    assert '<td class="na">n/a</td>' in page


@pytest.mark.parametrize("seed", [5, 6])
def test_every_figure_is_embedded_byte_for_byte(tmp_path, seed):
    results = build(tmp_path, seed)
    tags = parse(write_report(tmp_path).read_text())
    expected = [fig["path"] for sec in results["sections"] for fig in sec["figures"]]
    assert len(tags.images) == len(expected)
    for img, rel in zip(tags.images, expected, strict=True):
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]) == (tmp_path / rel).read_bytes()


def test_config_files_are_embedded_verbatim(tmp_path):
    build(tmp_path, 7)
    page = write_report(tmp_path).read_text()
    folded = r'<details class="config"><summary>[^<]*<code>([^<]*)</code></summary><pre>(.*?)</pre>'
    printed = r'<div class="print-only"><p>[^<]*<code>([^<]*)</code></p><pre>(.*?)</pre></div>'
    for pattern in (folded, printed):  # a folded block for the screen, a full one for print
        blocks = {path: html.unescape(b) for path, b in re.findall(pattern, page, flags=re.S)}
        for name in ("sweep.yaml", "paper.yaml"):
            original = (tmp_path / "sweeps" / "paper-seeds" / name).read_text()
            assert blocks[f"sweeps/paper-seeds/{name}"] == original


def test_page_loads_nothing_from_the_network(tmp_path):
    build(tmp_path, 8)
    page = write_report(tmp_path).read_text()
    tags = parse(page)
    assert all(img["src"].startswith("data:image/png;base64,") for img in tags.images)
    assert {h for h in tags.links if not h.startswith("#section-")} == {f"https://doi.org/{DOI}"}
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    urls = re.findall(r"(?:https?:)?//[^\s\"'<>)]+", text)
    assert urls == [f"https://doi.org/{DOI}"]
    assert tags.links.count(f"https://doi.org/{DOI}") == 1
    lowered = page.lower()
    for needle in ("<script", "<link", "@import", "url(", "<iframe", "<object"):
        assert needle not in lowered
    # even a text that escaped escaping could not run a script or load anything
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy and "default-src 'none'" in policy[1] and "script-src" not in policy[1]
    assert "@media print" in page


def test_every_text_from_results_is_escaped(tmp_path):
    results = build(tmp_path, 9)
    evil = '<script>alert("x")</script>'
    attr = 'caption" onerror="alert(1)'
    sec = results["sections"][0]
    sec["claim"] = evil
    sec["title"] = evil + " title"
    sec["figures"][0]["caption"] = attr
    sec["checks"][0]["text"] = "<b>bold</b> & check"
    sec["tables"][0]["rows"][0][0] = "</td></tr></table><script>x</script>"
    sec["notes"] = "</p><img src=x>"
    results["paper"]["authors"] = "A & B <i>"
    save(tmp_path, results)
    (tmp_path / sec["configs"][0]["path"]).write_text("a: </pre><script>bad()</script>\n")
    page = write_report(tmp_path).read_text()
    assert "<script" not in page.lower()
    tags = parse(page)
    assert tags.errors == [] and tags.stack == []
    text = " ".join(tags.text)
    for raw in (evil, "<b>bold</b> & check", "</p><img src=x>", "A & B <i>"):
        assert raw in text  # shown as text, not interpreted
    assert len(tags.images) == sum(len(s["figures"]) for s in results["sections"])
    assert tags.images[0]["alt"] == attr and "onerror" not in tags.images[0]


def _mutate(results: dict, root: Path, case: str) -> None:
    sec0, sec1 = results["sections"][0], results["sections"][1]
    if case == "schema":
        results["schema"] = "wi-sweep"
    elif case == "version":
        results["schema_version"] = 2
    elif case == "doi-missing":
        del results["paper"]["doi"]
    elif case == "doi-bad":
        results["paper"]["doi"] = "javascript:alert(1)"
    elif case == "status":
        sec1["checks"][0]["status"] = "passed"
    elif case == "reason":
        sec0["checks"][0].update(status="fail", reason="")
    elif case == "outside":
        (root.parent / "outside.png").write_bytes((root / sec0["figures"][0]["path"]).read_bytes())
        sec0["figures"][0]["path"] = "../outside.png"
    elif case == "absolute":
        sec0["figures"][0]["path"] = str(root / sec0["figures"][0]["path"])
    elif case == "no-figure":
        sec1["figures"][0]["path"] = "figures/missing.png"
    elif case == "not-png":
        sec1["figures"][0]["path"] = "sweeps/paper-seeds/paper.yaml"
    elif case == "no-config":
        sec0["configs"][1]["path"] = "sweeps/nope/sweep.yaml"
    elif case == "unknown":
        sec0["figures"][0]["captoin"] = sec0["figures"][0].pop("caption")
    elif case == "type":
        results["wall_s"] = "12"
    elif case == "nan":
        results["cpu_s"] = float("nan")
    elif case == "negative":
        results["n_runs"] = -1
    elif case == "bool":
        results["quick"] = "yes"
    elif case == "row":
        sec1["tables"][0]["rows"][1] = ["rdd", "0.5"]
    elif case == "duplicate-id":
        sec1["id"] = sec0["id"]
    elif case == "no-sections":
        results["sections"] = []
    elif case == "cell":
        sec0["tables"][0]["rows"][0][1] = [0.5]
    elif case == "length-factor":
        results["length_factor"] = 0


CASES = {
    "schema": ("schema", "not a wi reproduction"),
    "version": ("schema_version", "upgrade wi"),
    "doi-missing": ("paper.doi", "missing"),
    "doi-bad": ("paper.doi", "is not a DOI"),
    "status": ("sections[1].checks[0].status", "did you mean 'pass'"),
    "reason": ("sections[0].checks[0].reason", "say why the check is fail"),
    "outside": ("sections[0].figures[0].path", "points outside"),
    "absolute": ("sections[0].figures[0].path", "absolute path"),
    "no-figure": ("sections[1].figures[0].path", "no such file"),
    "not-png": ("sections[1].figures[0].path", "not a PNG"),
    "no-config": ("sections[0].configs[1].path", "no such file"),
    "unknown": ("sections[0].figures[0].captoin", "did you mean 'caption'"),
    "type": ("wall_s", "expected a number, got a string"),
    "nan": ("cpu_s", "finite"),
    "negative": ("n_runs", ">= 0"),
    "bool": ("quick", "expected true or false"),
    "row": ("sections[1].tables[0].rows[1]", "2 cells for 3 columns"),
    "duplicate-id": ("sections[1].id", "also sections[0].id"),
    "no-sections": ("sections", "nothing to report"),
    "cell": ("sections[0].tables[0].rows[0][1]", "got a list"),
    "length-factor": ("length_factor", "must be > 0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_names_the_file_and_key(tmp_path, case):
    root = tmp_path / "repro"
    results = build(root, 10)
    read_results(root)  # the unmutated fixture is valid
    _mutate(results, root, case)
    save(root, results)
    with pytest.raises(UserError) as info:
        write_report(root)
    key, words = CASES[case]
    assert info.value.file == str(root / "results.json")
    assert info.value.key == key
    assert words in info.value.message
    assert str(info.value).startswith(f"{root / 'results.json'}: {key}: ")
    assert not (root / "report.html").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_repeated_key_and_broken_json_are_reported(tmp_path):
    results = build(tmp_path, 11)
    text = json.dumps(results)
    save_text = text.replace('"quick": false', '"quick": false, "quick": true', 1)
    (tmp_path / "results.json").write_text(save_text)
    with pytest.raises(UserError) as info:
        read_results(tmp_path)
    assert info.value.key == "quick" and "twice" in info.value.message
    (tmp_path / "results.json").write_text(text[:-5])
    with pytest.raises(UserError, match=r"not valid JSON: line 1 column \d+"):
        read_results(tmp_path)
    (tmp_path / "results.json").unlink()
    with pytest.raises(UserError, match="no such file"):
        read_results(tmp_path)


def test_defaults_are_filled_in(tmp_path):
    results = build(tmp_path, 12)
    sec = results["sections"][0]
    for name in ("figures", "tables", "configs", "notes"):
        del sec[name]
    del sec["checks"][0]["measured"]
    sec["checks"][0].update(status="pass")
    del sec["checks"][0]["reason"]
    save(tmp_path, results)
    got = read_results(tmp_path)["sections"][0]
    assert (got["figures"], got["tables"], got["configs"], got["notes"]) == ([], [], [], "")
    assert got["checks"][0]["measured"] == "" and got["checks"][0]["reason"] == ""
    assert parse(write_report(tmp_path).read_text()).errors == []


def test_existing_report_is_replaced_and_force_false_keeps_it(tmp_path):
    results = build(tmp_path, 13)
    old = write_report(tmp_path).read_text()
    assert write_report(tmp_path).read_text() == old  # the page depends on results.json only
    results["sections"][0]["checks"][0]["text"] = "a brand new check"
    save(tmp_path, results)
    with pytest.raises(UserError, match="exists; use --force"):
        write_report(tmp_path, force=False)
    assert (tmp_path / "report.html").read_text() == old
    assert "a brand new check" in write_report(tmp_path).read_text()


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_failure_mid_write_keeps_the_old_report(tmp_path, monkeypatch, failure):
    results = build(tmp_path, 14)
    old = write_report(tmp_path).read_bytes()
    results["sections"][0]["claim"] = "changed claim"
    save(tmp_path, results)
    written = []

    def half_then_fail(self, data, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as fh:
            fh.write(data[: len(data) // 2])
        written.append(self)
        raise failure

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(type(failure)):
        write_report(tmp_path)
    assert written and written[0].parent == tmp_path and written[0].name != "report.html"
    assert (tmp_path / "report.html").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "figures",
        "report.html",
        "results.json",
        "sweeps",
    ]


def test_pdf_is_skipped_without_a_browser(tmp_path, monkeypatch):
    build(tmp_path, 15)
    write_report(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert write_pdf(tmp_path) is None
    assert not (tmp_path / "report.pdf").exists()


CHECKER = [sys.executable, str(ROOT / "scripts" / "check_report_browser.py")]


def _fake_browser(bindir: Path, body: str) -> None:
    bindir.mkdir()
    fake = bindir / "chromium"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)


def test_pdf_of_a_failing_browser_warns_and_writes_nothing(tmp_path, monkeypatch):
    root = tmp_path / "repro"
    build(root, 18)
    write_report(root)
    _fake_browser(tmp_path / "bin", "echo 'cannot open display' >&2\nexit 7\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.warns(UserWarning, match=r"report.pdf: not written: chromium failed \(exit 7\): "):
        assert write_pdf(root) is None
    assert sorted(p.name for p in root.iterdir()) == [
        "figures",
        "report.html",
        "results.json",
        "sweeps",
    ]


def test_pdf_goes_through_a_temporary_file(tmp_path, monkeypatch):
    root = tmp_path / "repro"
    build(root, 19)
    write_report(root)
    (root / "report.pdf").write_bytes(b"old")
    # a browser that writes its --print-to-pdf= argument and records the page it was given
    _fake_browser(
        tmp_path / "bin",
        'for a in "$@"; do case "$a" in --print-to-pdf=*) out="${a#--print-to-pdf=}";; esac; done\n'
        f'echo "$out" > {tmp_path}/out.txt; printf "%%PDF-fake" > "$out"\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(UserError, match="exists; use --force"):
        write_pdf(root, force=False)
    assert (root / "report.pdf").read_bytes() == b"old"
    assert write_pdf(root) == root / "report.pdf"
    assert (root / "report.pdf").read_bytes() == b"%PDF-fake"
    assert Path((tmp_path / "out.txt").read_text().strip()).name != "report.pdf"


def test_checker_fails_without_a_browser(tmp_path):
    build(tmp_path, 20)
    page = write_report(tmp_path)
    env = {"PATH": str(tmp_path / "empty")}
    done = subprocess.run(
        [*CHECKER, str(page), str(tmp_path / "s.png")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1 and "no Chromium found" in done.stderr


@pytest.mark.skipif(not HAS_CHROMIUM, reason="no Chromium installed")
def test_browser_renders_the_report(tmp_path):
    root = tmp_path / "repro"
    build(root, 16, quick=True)
    page = write_report(root)
    shot = tmp_path / "shot.png"
    done = subprocess.run([*CHECKER, str(page), str(shot)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert shot.read_bytes().startswith(b"\x89PNG") and done.stdout.startswith("ok:")
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    done = subprocess.run(
        [*CHECKER, str(blank), str(tmp_path / "b.png")], capture_output=True, text=True
    )
    assert done.returncode == 1 and "looks blank" in done.stderr
    pdf = write_pdf(root)
    assert pdf == root / "report.pdf" and pdf.read_bytes().startswith(b"%PDF")
