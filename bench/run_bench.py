"""Benchmark xai_core against Captum, PAIR ``saliency`` and straightforward loops; write docs/benchmarks.md.

    python -m bench.run_bench [--quick] [--device cpu|cuda] [--out docs/benchmarks.md] [--json results.json]

Everything runs in this one process (peak CPU memory excepted: ``bench.memory`` measures each call in a fresh
process), our call and the peer's alternating within each round. Before a pair is timed, the two maps are
compared and the agreement printed. See docs/benchmarks.md for what the tables mean.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bench import cases, memory, report
from bench.cases import CASES, Case
from bench.plan import Plan, make_plan
from bench.timing import Floor, interleaved, measure_floor, median
from bench.workloads import Workload, build

SINGLE = ("saliency", "input_x_gradient", "guided_backprop", "grad_cam")
HEAVY = ("integrated_gradients", "smoothgrad")
LOG_START = time.perf_counter()


def log(message: str) -> None:
    load = os.getloadavg()[0]
    print(f"[{time.perf_counter() - LOG_START:7.1f}s load {load:4.1f}] {message}", flush=True)


def machine(device: torch.device) -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    info = {
        "cpu": model,
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "captum": version("captum"),
        "saliency": version("saliency"),
        "device": str(device),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# --- agreement -------------------------------------------------------------------------------------------------


def relative_error(ours: Tensor, theirs: Tensor) -> float:
    """max |ours - theirs| / max |theirs|, in float64."""
    a, b = ours.detach().double().cpu(), theirs.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def spearman(ours: Tensor, theirs: Tensor) -> float:
    """Mean over images of the rank correlation of two maps (each flattened)."""
    values = []
    for a, b in zip(ours.detach().double().cpu().flatten(1), theirs.detach().double().cpu().flatten(1), strict=True):
        ra, rb = (t.argsort().argsort().double() for t in (a, b))
        ra, rb = ra - ra.mean(), rb - rb.mean()
        values.append(float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-30)))
    return sum(values) / len(values)


def agreement(case: Case, wl: Workload, batch: int, mine: Tensor, theirs: Tensor) -> dict[str, Any]:
    err, rho = relative_error(mine, theirs), spearman(mine, theirs)
    out: dict[str, Any] = {"rel_err": err, "spearman": rho, "tolerance": case.tolerance, "ok": err <= case.tolerance}
    if case.name == "smoothgrad":
        out["ok"] = None  # different noise draws: judged by the sigma = 0 check below
        if batch == 1:  # at sigma = 0 both are the plain gradient: an exact check of the same pipeline
            exact = relative_error(cases.ours(case, wl, 1, sigma=0.0)(), cases.peer(case, wl, 1, None, sigma=0.0)())
            out.update(exact_rel_err=exact, ok=exact <= case.tolerance)
    if case.name == "guided_backprop" and not out["ok"]:
        plain = relative_error(cases.ours(CASES["saliency"], wl, batch)(), theirs)
        if plain <= 1e-4:
            out["note"] = "Captum returned the plain gradient: its rule does not reach ReLU6 (ours applies it)"
    return out


# --- one comparison --------------------------------------------------------------------------------------------


def label(case: Case, setting: int | None) -> str:
    if case.sweep_arg is None:
        return case.peer
    return f"{case.sweep_arg}={setting}" + (" (default)" if setting is None else "")


def peer_settings(case: Case, plan: Plan, expensive: bool) -> list[int | None]:
    if case.peer == "captum":
        return list((plan.expensive_sweep if expensive else plan.captum_sweep).get(case.name, (None,)))
    if case.name == "blur_ig":
        return list(plan.pair_sweep)
    return [None]


def memory_budget(plan: Plan, device: torch.device) -> float:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.8 * free
    available = plan.memory_budget_gib * 2**30
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable"):
                available = min(available, 0.5 * int(line.split()[1]) * 1024)
    return available


def compare(
    case: Case, wl: Workload, batch: int, plan: Plan, floor: Floor, repeats: int, expensive: bool
) -> dict[str, Any]:
    """Time ours against every fitting peer setting, interleaved; agreement checked first."""
    row: dict[str, Any] = {"model": wl.name, "batch": batch, "case": case.name, "peer": case.peer, "note": case.note,
                           "rounds": repeats, "sweep_arg": case.sweep_arg}  # fmt: skip
    reason = case.available()
    if reason:
        log(f"{wl.name} B={batch} {case.name}: skipped, {reason}")
        return {**row, "skipped": reason}
    settings = peer_settings(case, plan, expensive)
    row["default"] = label(case, 1 if case.name == "blur_ig" else None)
    budget, per_image = memory_budget(plan, wl.device), wl.bytes_per_image()
    candidates: dict[str, Callable[[], Any]] = {"ours": cases.ours(case, wl, batch)}
    if case.name in SINGLE:  # the app's call: no target, so attribute runs one extra forward to predict it
        candidates["ours, target=None"] = cases.ours(case, wl, batch, target=None)
    skipped: dict[str, str] = {}
    seen: set[int] = set()
    for setting in settings:
        images = cases.images_per_call(case, batch, setting)
        if setting is not None and case.peer == "captum" and images in seen:
            continue  # a batch argument at or above the job size is the default again
        seen.add(images)
        need = images * per_image
        if case.peer == "captum" and need > budget:
            skipped[label(case, setting)] = f"not run: one batch of {images} images needs ~{need / 2**30:.1f} GiB"
            continue
        candidates[label(case, setting)] = cases.peer(case, wl, batch, setting)
    layers = sum(1 for m in wl.module.modules() if next(m.parameters(recurse=False), None) is not None)
    row["floor_s"] = cases.floor_seconds(case, batch, floor, layers)
    first_peer = next(name for name in candidates if not name.startswith("ours"))
    mine, theirs = candidates["ours"](), candidates[first_peer]()
    row["agreement"] = {**agreement(case, wl, batch, mine, theirs), "against": first_peer}
    a = row["agreement"]
    log(
        f"{wl.name} B={batch} {case.name}: ours vs {first_peer}: max rel err {a['rel_err']:.2e} "
        f"(tolerance {a['tolerance']:.0e}), rank corr {a['spearman']:.4f}"
        + (f", sigma=0 rel err {a['exact_rel_err']:.2e}" if "exact_rel_err" in a else "")
        + (f" [{a['note']}]" if "note" in a else "")
    )
    times = interleaved(candidates, repeats, wl.device, warmup=case.name in SINGLE)
    row["times"] = times
    row["median"] = {name: median(values) for name, values in times.items()}
    row["skipped_settings"] = skipped
    if wl.device.type == "cuda":
        row["cuda_peak_mib"] = {name: memory.cuda_peak_mib(fn, wl.device) for name, fn in candidates.items()}
    summary = ", ".join(f"{name} {t:.3f}s" for name, t in row["median"].items())
    log(f"{wl.name} B={batch} {case.name}: {summary}; floor {row['floor_s']:.3f}s")
    return row


def chunk_sweep(wl: Workload, plan: Plan, floor: Floor, repeats: int) -> dict[str, Any]:
    """Our IG (50 steps, one image) at each chunk size, and what ``auto_chunk_size`` picks on this device."""
    from xai_core.batching import auto_chunk_size

    case = CASES["integrated_gradients"]
    candidates = {f"chunk_size={c}": cases.ours(case, wl, 1, chunk_size=c) for c in plan.chunk_sweep}
    candidates["auto"] = cases.ours(case, wl, 1)
    times = interleaved(candidates, repeats, wl.device, warmup=False)
    result = {
        "median": {name: median(values) for name, values in times.items()},
        "auto": auto_chunk_size(wl.module, wl.images[:1]),
        "floor_s": cases.floor_seconds(case, 1, floor),
    }
    log("chunk sweep: " + ", ".join(f"{n} {t:.3f}s" for n, t in result["median"].items()) + f"; auto={result['auto']}")
    return result


def autocast_rows(wl: Workload, plan: Plan, batch: int) -> list[dict[str, Any]]:
    """CUDA only: our methods under float16/bfloat16 autocast, timed against float32, maps rank-correlated."""
    from xai_core import registry
    from xai_core.viz import reduce

    rows = []
    for name in (*SINGLE, *HEAVY):
        case = CASES[name]
        reduction = registry.get(case.method or name).reduction
        candidates = {"float32": cases.ours(case, wl, batch)}
        candidates.update({dt: cases.ours(case, wl, batch, autocast=getattr(torch, dt)) for dt in plan.autocast})
        reference = torch.from_numpy(reduce(candidates["float32"](), reduction))
        rho = {
            dt: spearman(torch.from_numpy(reduce(candidates[dt]().float(), reduction)), reference)
            for dt in plan.autocast
        }
        times = interleaved(candidates, plan.expensive_repeats, wl.device)
        rows.append({"model": wl.name, "batch": batch, "case": name, "spearman": rho,
                     "median": {k: median(v) for k, v in times.items()}})  # fmt: skip
        log(f"autocast {wl.name} B={batch} {name}: rank corr {rho}, {rows[-1]['median']}")
    return rows


def memory_probes(results: list[dict[str, Any]], plan: Plan) -> None:
    """CPU: peak resident-set growth of ours, the peer's default and its best setting, each in a fresh process."""
    for row in results:
        if "median" not in row or row["model"] != "efficientnet_lite0":
            continue
        single = row["case"] in SINGLE
        if (single and row["batch"] != plan.memory_batch) or (not single and row["batch"] != 1):
            continue
        best = min((n for n in row["median"] if not n.startswith("ours")), key=row["median"].get)
        names = dict.fromkeys(["ours", row["default"], best])  # single-pass: the peer has one setting
        row["peak_mib"] = {}
        for name in names:
            if name not in row["median"]:
                continue
            setting = None if name in ("ours", row["peer"]) or "=None" in name else int(name.split("=")[1].split()[0])
            side = "ours" if name == "ours" else "peer"
            spec = {"workload": row["model"], "batch": row["batch"], "case": row["case"], "side": side,
                    "setting": setting, "threads": torch.get_num_threads()}  # fmt: skip
            row["peak_mib"][name] = memory.cpu_peak_mib(spec)
            log(f"memory {row['case']} B={row['batch']} {name}: {row['peak_mib'][name]}")


PROBE_SECONDS = 10.0  # one memory probe: a fresh interpreter importing torch, captum and timm, plus the call


def estimate(case: Case, wl: Workload, batch: int, plan: Plan, floor: Floor, repeats: int, expensive: bool) -> float:
    """Rough seconds ``compare`` will take: every call at ``case.cost`` times its floor."""
    calls = (1 + len(peer_settings(case, plan, expensive))) * (repeats + (case.name in SINGLE)) + 2
    calls += 2 if case.name == "smoothgrad" and batch == 1 else 0
    layers = sum(1 for m in wl.module.modules() if next(m.parameters(recurse=False), None) is not None)
    return calls * case.cost * cases.floor_seconds(case, batch, floor, layers)


Job = tuple[str, str, int, int, bool]  # (model, case, batch, rounds, expensive)


def schedule(plan: Plan) -> list[Job]:
    """Jobs by priority: one image before many, Lite0 before ResNet-50, cheap before dear."""
    lite, resnet = "efficientnet_lite0", "resnet50"
    extras = {"blur_ig": plan.pair_batches, "guided_ig": plan.pair_batches, "insertion_deletion": plan.curve_batches,
              "cascading_randomization": plan.randomization_batches}  # fmt: skip
    jobs: list[Job] = []

    def add(
        model: str, names: tuple[str, ...], batches: tuple[int, ...], small: bool, repeats: int, dear: bool
    ) -> None:
        if model in plan.models:
            jobs.extend((model, n, b, repeats, dear) for b in batches if (b == 1) == small for n in names)

    for small in (True, False):
        add(lite, SINGLE, plan.batches.get(lite, ()), small, plan.repeats, False)
        add(resnet, SINGLE, plan.batches.get(resnet, ()), small, plan.repeats if small else plan.heavy_repeats, False)
    add(lite, HEAVY, plan.heavy_batches.get(lite, ()), True, plan.heavy_repeats, False)
    if lite in plan.models:
        jobs.append((lite, "chunk_sweep", 1, plan.expensive_repeats, False))
    for name, batches in extras.items():
        add(lite, (name,), batches, True, plan.expensive_repeats, True)
    add(resnet, HEAVY, plan.heavy_batches.get(resnet, ()), True, plan.expensive_repeats, True)
    add(lite, HEAVY, plan.heavy_batches.get(lite, ()), False, plan.expensive_repeats, True)
    for name, batches in extras.items():
        add(lite, (name,), batches, False, plan.expensive_repeats, True)
    add(resnet, HEAVY, plan.heavy_batches.get(resnet, ()), False, plan.expensive_repeats, True)
    return jobs


def run(device: torch.device, plan: Plan, quick: bool) -> dict[str, Any]:
    """Floors first, then the configurations by priority; any whose estimate would overrun the budget is skipped."""
    torch.manual_seed(0)
    started, load_start = time.perf_counter(), os.getloadavg()
    out: dict[str, Any] = {"machine": machine(device), "quick": quick, "plan": {"repeats": plan.repeats,
                           "heavy_repeats": plan.heavy_repeats, "budget_s": plan.budget_s}, "floors": {}, "rows": [],
                           "autocast": []}  # fmt: skip
    batches = [*plan.pair_batches, *plan.curve_batches, *plan.randomization_batches]
    batches += [b for table in (plan.batches, plan.heavy_batches) for bs in table.values() for b in bs]
    loads, floors = {}, {}
    for model in plan.models:
        loads[model] = wl = build(model, device, max(batches))
        log(f"{model}: floor (forward+backward at {plan.floor_sizes[model]}, forward at {plan.fwd_sizes})")
        floors[model], raw = measure_floor(
            wl.module, wl.images, wl.classes, plan.floor_sizes[model], plan.fwd_sizes, plan.heavy_repeats, device
        )
        out["floors"][model] = {"fb": floors[model].fb, "fwd": floors[model].fwd, "raw": raw}
        log(f"{model}: floor fb {floors[model].fb}, fwd {floors[model].fwd}")

    jobs = schedule(plan)
    probes = len(SINGLE) * 2 + (len(HEAVY) + 3) * 3 if device.type == "cpu" and plan.memory else 0
    reserve = probes * PROBE_SECONDS
    for model, name, batch, repeats, expensive in jobs:
        wl, floor = loads[model], floors[model]
        if name == "chunk_sweep":
            out["chunk_sweep"] = chunk_sweep(wl, plan, floor, repeats)
            continue
        case = CASES[name]
        cost = estimate(case, wl, batch, plan, floor, repeats, expensive)
        left = plan.budget_s - reserve - (time.perf_counter() - started)
        if case.available() is None and cost > left:
            reason = f"over the time budget ({plan.budget_s:.0f} s): estimated {cost:.0f} s, {max(left, 0):.0f} s left"
            log(f"{model} B={batch} {name}: skipped, {reason}")
            out["rows"].append({"model": model, "batch": batch, "case": name, "peer": case.peer, "skipped": reason})
            continue
        try:
            out["rows"].append(compare(case, wl, batch, plan, floor, repeats, expensive))
        except Exception as err:  # one broken configuration must not cost the rest of a 15-minute run
            reason = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
            log(f"{model} B={batch} {name}: {reason}")
            out["rows"].append({"model": model, "batch": batch, "case": name, "peer": case.peer, "skipped": reason})
    if device.type == "cuda" and plan.autocast:
        for model in plan.models:
            out["autocast"] += autocast_rows(loads[model], plan, plan.memory_batch)
    if device.type == "cpu" and plan.memory:
        memory_probes(out["rows"], plan)
    order = {name: i for i, name in enumerate(CASES)}
    out["rows"].sort(key=lambda r: (plan.models.index(r["model"]), order[r["case"]], r["batch"]))
    out["load"] = {"start": load_start, "end": os.getloadavg()}
    out["elapsed_s"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 repeats and fewer configurations (development)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to update ('-' prints only)")
    parser.add_argument("--json", default=None, help="also write the raw results (every round's time) here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available on this machine")
    device = torch.device(args.device)
    plan = make_plan(args.device, args.quick)
    results = run(device, plan, args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    text = report.render(results)
    print(text)
    if args.out != "-":
        report.update(Path(args.out), text, device.type)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
