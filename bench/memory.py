"""Peak memory of one call, each in a fresh process on CPU.

``python -m bench.memory '{"workload": ..., "batch": ..., "case": ..., "side": "ours"|"peer", "setting": ...}'``
builds the workload, warms the model up with a one-image forward, resets and reads the resident-set high-water
mark (``VmHWM``; ``ru_maxrss`` where there is no /proc), runs the call once and prints the growth in MiB as
JSON. tracemalloc would miss torch's allocations; on CUDA the parent process reads ``torch.cuda.max_memory_allocated``
around the call instead (``cuda_peak_mib``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent


def _status_kib(field: str) -> float | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return None


def _reset_peak() -> None:
    """Reset this process's peak resident set to its current size (Linux >= 4.0), where allowed."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mib() -> float:
    """The resident-set high-water mark in MiB.

    ``VmHWM`` belongs to the process's address space, which ``exec`` replaces; ``ru_maxrss`` is kept across
    ``exec``, so a process started by a large parent would report the parent's size at fork as its own peak.
    """
    hwm = _status_kib("VmHWM")
    return (hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0


def cpu_peak_mib(spec: dict[str, Any], timeout: float = 600.0) -> float | str:
    """Resident-set growth in MiB of the call ``spec`` names, measured in a fresh process; a reason on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", json.dumps(spec)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: {tail[:120]}"
    return float(json.loads(lines[-1])["peak_mib"])


def cuda_peak_mib(fn: Callable[[], Any], device: torch.device) -> float:
    """Peak CUDA memory in MiB that one call of ``fn`` adds to what is already allocated."""
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def main(argv: list[str]) -> None:
    from bench import cases, workloads
    from bench.timing import fwd_only

    spec = json.loads(argv[0])
    torch.set_num_threads(int(spec.get("threads", torch.get_num_threads())))
    device = torch.device("cpu")
    wl = workloads.build(spec["workload"], device, max(8, spec["batch"]))
    case = cases.CASES[spec["case"]]
    if spec["side"] == "ours":
        fn = cases.ours(case, wl, spec["batch"], chunk_size=spec.get("setting"))
    else:
        fn = cases.peer(case, wl, spec["batch"], spec.get("setting"))
    if case.name == "insertion_deletion":
        from bench.peers import saliency_maps

        saliency_maps(wl, spec["batch"])  # the maps are an input, not part of the metric's memory
    fwd_only(wl.module, wl.images[:1])
    _reset_peak()
    before = _peak_mib()
    fn()
    print(json.dumps({"peak_mib": _peak_mib() - before}))


if __name__ == "__main__":
    main(sys.argv[1:])
