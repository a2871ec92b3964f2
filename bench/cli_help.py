"""How long the command line takes to print its help: ``python -m bench.cli_help`` (goal: under one second).

Each command runs as a new process, as a user types it. Warm: Python's bytecode cache is in place (any run after
the first). Cold: every run gets an empty ``PYTHONPYCACHEPREFIX``, so Python compiles every module it imports,
the standard library's included: an upper bound on a first run after installing (the OS file cache stays warm).
Candidates are timed in interleaved rounds, so a slow moment of the machine hits all of them alike. The last rows
are references: the interpreter alone, and importing the engine's API (what ``--help`` cost when it imported
PyTorch).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def candidates() -> dict[str, list[str]]:
    python = [sys.executable]
    script = shutil.which("saliency-studio") or str(Path(sys.executable).with_name("saliency-studio"))
    found = {}
    if Path(script).exists():
        found["saliency-studio --help"] = [script, "--help"]
        found["saliency-studio evaluate --help"] = [script, "evaluate", "--help"]
    found["python -m xai_core --help"] = [*python, "-m", "xai_core", "--help"]
    found["python -m xai_core evaluate --help"] = [*python, "-m", "xai_core", "evaluate", "--help"]
    found["(reference) python -c pass"] = [*python, "-c", "pass"]
    found["(reference) import the engine's API"] = [*python, "-c", "import xai_core; xai_core.attribute"]
    return found


def run_once(command: list[str], cold: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["PYTHONPYCACHEPREFIX"] = cache
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per command and mode")
    args = parser.parse_args()
    found = candidates()
    for command in found.values():
        run_once(command, cold=False)  # writes the bytecode cache the warm runs use
    times: dict[tuple[str, bool], list[float]] = {(name, cold): [] for name in found for cold in (False, True)}
    for round_ in range(args.runs):
        keys = list(times)
        for name, cold in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
            times[(name, cold)].append(run_once(found[name], cold))
    print(f"| command | warm: median of {args.runs} | cold: median of {args.runs} | warm runs (s) |")
    print("|---|---|---|---|")
    for name in found:
        warm, cold = times[(name, False)], times[(name, True)]
        runs = ", ".join(f"{t:.2f}" for t in warm)
        print(f"| `{name}` | {statistics.median(warm):.2f} s | {statistics.median(cold):.2f} s | {runs} |")


if __name__ == "__main__":
    main()
