"""Markdown tables of a run, written into docs/benchmarks.md between per-device markers (a rerun replaces them)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

QUIET_LOAD = 1.5  # 1-minute load average above which timings on this 2-core machine are not trustworthy
TARGET_BEST, TARGET_DEFAULT, TARGET_CURVES, TARGET_FLOOR = 1.0, 2.0, 10.0, 1.25
NOISE = 0.03  # round-to-round spread of the medians on the quiet 2-core machine


def uptime() -> str:
    """The machine's ``uptime`` line (its load averages): every table says how busy the machine was."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def machine() -> str:
    """Processor, cores, torch version and threads, for a table's header line."""
    return (f"{platform.processor() or 'CPU'}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")  # fmt: skip


def _s(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _x(ratio: float) -> str:
    return "-" if ratio != ratio else f"{ratio:.2f}x"


def _peer_times(row: dict[str, Any]) -> dict[str, float]:
    return {name: t for name, t in row.get("median", {}).items() if not name.startswith("ours")}


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    """Ours, the peer's default and best, their ratios (peer / ours: above 1 means we are faster) and floors."""
    peers = _peer_times(row)
    ours = row["median"]["ours"]
    default = peers.get(row["default"], math.nan)
    best_name = min(peers, key=peers.__getitem__)
    floor = row["floor_s"]
    return {
        "ours": ours, "default": default, "best": peers[best_name], "best_name": best_name,
        "default_speedup": default / ours, "best_speedup": peers[best_name] / ours,
        "ours_floor": ours / floor, "peer_floor": peers[best_name] / floor,
    }  # fmt: skip


def _agreement(row: dict[str, Any]) -> str:
    a = row["agreement"]
    text = f"rel err {a['rel_err']:.1e}, rank corr {a['spearman']:.3f}"
    if "exact_rel_err" in a:
        text = f"sigma=0: rel err {a['exact_rel_err']:.1e}; sigma=0.15: rank corr {a['spearman']:.3f} (other noise)"
    verdict = {True: "same", False: "**differs**", None: "n/a"}[a["ok"]]
    note = f"; {a['note']}" if "note" in a else ""
    return f"{verdict} ({text}, tol {a['tolerance']:.0e}){note}"


def _main_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | images | method | peer | rounds | ours | peer default | peer best (setting) | default / ours | "
        "best / ours | ours / floor | peer best / floor | same map? |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rounds = f"{row.get('rounds', '-')}{' (s)' if row.get('supplement') else ''}"
        head = f"| {row['model']} | {row['batch']} | {row['case']} | {row['peer']} | {rounds} |"
        if "skipped" in row:
            lines.append(f"{head} not measured: {row['skipped']} | | | | | | | |")
            continue
        s = summarize(row)
        default = _s(s["default"]) if s["default"] == s["default"] else row["skipped_settings"].get(row["default"], "-")
        lines.append(
            f"{head} {_s(s['ours'])} | {default} | {_s(s['best'])} ({s['best_name']}) | {_x(s['default_speedup'])} | "
            f"{_x(s['best_speedup'])} | {_x(s['ours_floor'])} | {_x(s['peer_floor'])} | {_agreement(row)} |"
        )
    return lines


def _sweep_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| model | images | method | setting | median | / ours |", "|---|---|---|---|---|---|"]
    for row in rows:
        if "median" not in row or len(row["median"]) + len(row.get("skipped_settings", {})) < 3:
            continue
        ours = row["median"]["ours"]
        for name, t in row["median"].items():
            lines.append(f"| {row['model']} | {row['batch']} | {row['case']} | {name} | {_s(t)} | {_x(t / ours)} |")
        for name, why in row.get("skipped_settings", {}).items():
            lines.append(f"| {row['model']} | {row['batch']} | {row['case']} | {name} | {why} | |")
    return lines


def _targets(rows: list[dict[str, Any]]) -> list[str]:
    met: dict[str, list[str]] = {"best": [], "default": [], "curves": [], "floor": []}
    missed: dict[str, list[str]] = {key: [] for key in met}
    ties: dict[str, list[str]] = {key: [] for key in met}
    for row in rows:
        if "median" not in row:
            continue
        s, tag = summarize(row), f"{row['model']} B={row['batch']} {row['case']}"
        checks = {"floor": (s["ours_floor"], TARGET_FLOOR, "<=")}
        if row["peer"] == "loop" and row["case"] == "insertion_deletion":
            checks["curves"] = (s["default_speedup"], TARGET_CURVES, ">=")
        elif row["peer"] != "loop":
            checks["best"] = (s["best_speedup"], TARGET_BEST, ">=")
            if s["default"] == s["default"] and (row.get("sweep_arg") or row["peer"] == "pair"):
                checks["default"] = (s["default_speedup"], TARGET_DEFAULT, ">=")
        for key, (value, goal, op) in checks.items():
            ok = value <= goal if op == "<=" else value >= goal
            tie = key == "best" and not ok and value >= goal * (1 - NOISE)  # the same passes, within timing noise
            (met if ok else ties if tie else missed)[key].append(f"{tag} ({value:.2f}x)")
    titles = {
        "best": f"ours / peer <= {TARGET_BEST} at the peer's best setting (peer / ours >= {TARGET_BEST}x)",
        "default": f"ours / peer <= 0.5 at the peer's default (peer / ours >= {TARGET_DEFAULT}x; methods where the "
        "peer has a batching setting, and PAIR)",
        "curves": f"insertion + deletion >= {TARGET_CURVES:.0f}x faster than a per-step loop",
        "floor": f"every method within {TARGET_FLOOR}x of its floor (ours / floor <= {TARGET_FLOOR})",
    }
    lines = []
    for key, title in titles.items():
        total = len(met[key]) + len(missed[key]) + len(ties[key])
        verdict = "no rows" if not total else ("**met**" if not missed[key] else f"**missed** in {len(missed[key])}")
        lines.append(
            f"- {title}: {verdict} of {total}"
            + (f", a tie within {NOISE:.0%} in {len(ties[key])}" if ties[key] else "")
            + "."
        )
        if missed[key]:
            lines.append(f"  Missed: {'; '.join(missed[key])}.")
        if ties[key]:
            lines.append(f"  Tie (peer / ours between {1 - NOISE:.2f} and 1, the same passes): {'; '.join(ties[key])}.")
        if met[key] and missed[key]:
            lines.append(f"  Met: {'; '.join(met[key])}.")
    return lines


def _supplement(results: dict[str, Any]) -> list[str]:
    sup = results.get("supplement")
    if not sup:
        return []
    return [
        "",
        f"Supplementary run, same session, after the main run: the configurations the main run's budget skipped, "
        f"and the PAIR rows re-timed after the adapter was fixed to hand the model NCHW-contiguous arrays (see "
        f"below); each pair still alternates within one process. Load average "
        f"{'/'.join(f'{v:.1f}' for v in sup['load_start'])} at its start; it took {sup['elapsed_s'] / 60:.1f} min.",
    ]


def render(results: dict[str, Any]) -> str:
    m, load = results["machine"], results["load"]
    device = "CUDA" if m["device"].startswith("cuda") else "CPU"
    loaded = load["start"][0] > QUIET_LOAD  # at the end the load includes this run itself (about 2 on 2 cores)
    kind = "quick run (2 repeats, fewer configurations)" if results["quick"] else "full run"
    lines = [f"### {device}: {kind}, {m['date']}", ""]
    if loaded and device == "CPU":
        lines += [f"> **Taken under load** (1-minute load average {load['start'][0]:.1f} at the start, "
                  f"{load['end'][0]:.1f} at the end, on {m['nproc']} cores): absolute times are inflated and "
                  "ratios are noisy.", ""]  # fmt: skip
    gpu = f", GPU {m['gpu']}" if "gpu" in m else ""
    lines += [
        f"Machine: {m['cpu']}, {m['nproc']} cores ({m['torch_threads']} torch threads){gpu}; Python {m['python']}, "
        f"torch {m['torch']}, captum {m['captum']}, saliency {m['saliency']}. Load average (1/5/15 min) "
        f"{'/'.join(f'{v:.1f}' for v in load['start'])} at the start, "
        f"{'/'.join(f'{v:.1f}' for v in load['end'])} at the end (this run included). "
        f"Times are medians of the interleaved rounds given per row; the run took {results['elapsed_s'] / 60:.1f} min "
        f"(budget {results['plan']['budget_s'] / 60:.1f}).",
        *_supplement(results),
        "",
        "#### Targets",
        "",
        *_targets(results["rows"]),
        "",
        "#### Ours against the peers",
        "",
        "Ratios are peer time / our time: above 1 we are faster. Floor: the minimal forward(+backward) passes of the "
        "job at the best measured batch size (next table)."
        + (" Rounds marked (s): from the supplementary run described above." if "supplement" in results else ""),
        "",
        *_main_table(results["rows"]),
        "",
        "#### Floor: one forward+backward (fb) and one forward (fwd) of n images",
        "",
        "| model | n | fb | fb per image | fwd | fwd per image |",
        "|---|---|---|---|---|---|",
    ]
    for model, floor in results["floors"].items():
        fbs = {int(n): t for n, t in floor["fb"].items()}  # int keys, also after a JSON round trip
        fwds = {int(n): t for n, t in floor["fwd"].items()}
        for n in sorted(set(fbs) | set(fwds)):
            fb, fwd = fbs.get(n, math.nan), fwds.get(n, math.nan)
            lines.append(f"| {model} | {n} | {_s(fb)} | {_s(fb / n)} | {_s(fwd)} | {_s(fwd / n)} |")
    if "chunk_sweep" in results:
        sweep = results["chunk_sweep"]
        best = min(sweep["median"].values())
        lines += ["", f"#### Our chunk size: integrated_gradients, 50 steps, EfficientNet-Lite0, 1 image "
                  f"(auto_chunk_size picks {sweep['auto']}; floor {_s(sweep['floor_s'])})", "",
                  "| chunk_size | median | / best |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {name} | {_s(t)} | {_x(t / best)} |" for name, t in sweep["median"].items()]
    lines += ["", "#### Every candidate timed (the sweeps; `ours, target=None` predicts the class itself, as the app "
              "calls it)", "", *_sweep_table(results["rows"])]  # fmt: skip
    memory_rows = [row for row in results["rows"] if row.get("peak_mib") or row.get("cuda_peak_mib")]
    if memory_rows:
        what = "CUDA max_memory_allocated growth" if device == "CUDA" else "resident-set growth, fresh process each"
        lines += [
            "",
            f"#### Peak memory ({what})",
            "",
            "| model | images | method | setting | peak |",
            "|---|---|---|---|---|",
        ]
        for row in memory_rows:
            for name, mib in (row.get("peak_mib") or row.get("cuda_peak_mib")).items():
                value = f"{mib:.0f} MiB" if isinstance(mib, float) else mib
                lines.append(f"| {row['model']} | {row['batch']} | {row['case']} | {name} | {value} |")
    if results.get("memory_note"):
        lines += ["", f"({results['memory_note']}.)"]
    if results.get("curve_chunks"):
        chunks = results["curve_chunks"]
        lines += ["", "#### Our insertion + deletion (100 steps, 1 image, Lite0) by forward chunk size", "",
                  "| chunk_size | median | / auto |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {name} | {_s(t)} | {_x(t / chunks['auto'])} |" for name, t in chunks.items()]
    if results.get("autocast"):
        lines += ["", "#### Autocast (ours): time and rank correlation of the map with float32", ""]
        lines += ["| model | images | method | float32 | dtype | time | rank corr |", "|---|---|---|---|---|---|---|"]
        for row in results["autocast"]:
            for dt, rho in row["spearman"].items():
                lines.append(f"| {row['model']} | {row['batch']} | {row['case']} | {_s(row['median']['float32'])} | "
                             f"{dt} | {_s(row['median'][dt])} | {rho:.4f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def update(path: Path, text: str, device: str) -> None:
    """Replace the text between this device's markers in ``path`` (appending the markers when absent)."""
    begin, end = f"<!-- bench:{device}:begin -->", f"<!-- bench:{device}:end -->"
    block = f"{begin}\n{text}{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
