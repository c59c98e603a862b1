"""Regenerate the README figures in docs/figures/ from a real run.

    .venv/bin/python scripts/make_readme_figures.py                 # simulate + infer 60 s
    .venv/bin/python scripts/make_readme_figures.py --run RUN.h5    # reuse an existing run

Runs ``wi run configs/paper.yaml --set duration_ms=60000`` (the paper's protocol, one minute of
data, all three methods) in a temporary directory, draws every figure with ``wi.plot``, and
copies the README's three into docs/figures/ (each written atomically):

- ``inference_curves.png``: Pearson r and sign accuracy against data time, all methods;
- ``weights_scatter.png``: true vs inferred weights per method after all the data;
- ``raster.png``: spikes of the stimulus, input and output populations in the first second.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("inference_curves", "weights_scatter", "raster")


def simulate(config: Path, duration_ms: float, out: Path) -> Path:
    """``wi run CONFIG --set duration_ms=... -o OUT`` with this interpreter's ``wi``."""
    cmd = [
        sys.executable,
        "-m",
        "wi",
        "run",
        str(config),
        "-o",
        str(out),
        "--force",
        "--quiet",
        "--set",
        f"duration_ms={duration_ms:g}",
    ]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="existing run file (skips the simulation)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "paper.yaml")
    parser.add_argument("--duration-ms", type=float, default=60_000.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args(argv)

    from wi.plot import plot_file
    from wi.store import atomic_path

    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="wi-readme-") as tmp:
        tmp = Path(tmp)
        run = args.run or simulate(args.config, args.duration_ms, tmp / "readme.h5")
        drawn = {p.stem: p for p in plot_file(run, tmp / "figures", "png")}
        missing = [f for f in FIGURES if f not in drawn]
        if missing:
            raise SystemExit(f"error: {run}: no data for figure(s) {', '.join(missing)}")
        for name in FIGURES:
            target = args.out / f"{name}.png"
            with atomic_path(target) as part:
                shutil.copyfile(drawn[name], part)
            written.append(target)
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
    return written


if __name__ == "__main__":
    main()
