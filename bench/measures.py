"""The faithfulness measures of issue 14 against Quantus 0.6.0 (and Captum for infidelity): time per call on the same
model, inputs, maps and settings, reported as Quantus' time over ours.

    python -m bench.measures [--model efficientnet_lite0|resnet18] [--batch 2] [--only road_morf,...] [--out FILE]
                             [--rows FILE]   # keep each measured row there; the table shows every kept row

Both libraries get the bare module, the same ``[B, 3, 224, 224]`` crops of the bundled samples in the model's input
space (Lite0's preprocessing), the same targets (the predicted classes) and the same saliency maps (seeded uniform
noise: the cost does not depend on the map). Where the two count features differently, the settings give both the
same number of forwards: Quantus' features are (channel, pixel) elements, ours pixels, so a Quantus
``features_in_step`` of ``3 k`` matches our ``k`` pixels per step (and it must divide H*W). Each side runs once after
a warm-up forward; the machine load (``uptime``) is printed with the table, which goes between the
``bench:measures`` markers of ``--out``. Quantus' ``SensitivityN`` correlates across the images of a batch, so that
row runs on at least two images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from bench import report
from bench.workloads import sample_batch
from xai_core import metrics
from xai_core.models import load_model

SIDE = 224
PIXELS = SIDE * SIDE


def cases(batch: int) -> dict[str, tuple[dict[str, Any], Callable[[], Any], dict[str, Any]]]:
    """``name -> (our settings, the Quantus (or Captum) metric factory, its call's extra arguments)``."""
    import quantus

    quiet = {"normalise": False, "abs": False, "disable_warnings": True}
    # Quantus needs a features_in_step that divides H*W and then steps over 3*H*W elements: 3136 gives it 48 forwards
    # per image, matched by 48 steps (or groups of ceil(H*W / 48) = 1046 pixels) here.
    q_step, step = 3136, -(-PIXELS // 48)
    return {
        "faithfulness_correlation": (
            {"runs": 50, "subset_size": 224, "output": "logit"},
            lambda: quantus.FaithfulnessCorrelation(nr_runs=50, subset_size=224, return_aggregate=False, **quiet),
            {"softmax": False},
        ),
        "faithfulness_estimate": (
            {"features_in_step": step, "granularity": "pixel", "output": "logit"},
            lambda: quantus.FaithfulnessEstimate(features_in_step=q_step, **quiet),
            {"softmax": False},
        ),
        "monotonicity": (
            {"steps": 48},
            lambda: quantus.Monotonicity(features_in_step=q_step, **quiet),
            {"softmax": True},
        ),
        "monotonicity_correlation": (
            {"features_in_step": -(-PIXELS // 12), "granularity": "pixel", "samples": 4, "output": "probability"},
            lambda: quantus.MonotonicityCorrelation(features_in_step=4 * q_step, nr_samples=4, **quiet),
            {"softmax": True},
        ),
        "sensitivity_n": (  # the same number of forwards: Quantus computes another quantity (see sensitivity_n.py)
            {"points": 6, "samples": 8, "output": "probability"},
            lambda: quantus.SensitivityN(
                features_in_step=q_step, n_max_percentage=1.0, return_aggregate=False, **quiet
            ),
            {"softmax": True},
        ),
        "pixel_flipping": (
            {"steps": 48},
            lambda: quantus.PixelFlipping(features_in_step=q_step, **quiet),
            {"softmax": True},
        ),
        "region_perturbation": (
            {"regions": 49, "patch_size": 32, "substrate": "black"},
            lambda: quantus.RegionPerturbation(patch_size=32, regions_evaluation=49, **quiet),
            {"softmax": True},
        ),
        "selectivity": (
            {"patch_size": 32},
            lambda: quantus.Selectivity(patch_size=32, **quiet),
            {"softmax": True},
        ),
        "irof": (
            {"n_segments": 100, "substrate": "black"},
            lambda: quantus.IROF(
                perturb_func=mask_over_channels, perturb_baseline="black", return_aggregate=False, **quiet
            ),
            {"softmax": True},
        ),
        "road_morf": (  # Quantus' percentages count (channel, pixel) elements: 3 p % of them are p % of the pixels
            {"percent_from": 10, "percent_to": 30, "percent_step": 10},
            lambda: quantus.ROAD(percentages=[30, 60, 90], perturb_func=impute_pixels, **quiet),
            {"softmax": True},
        ),
        "infidelity": ({"samples": 50, "sigma": 0.1, "output": "logit"}, lambda: "captum", {}),
    }


def mask_over_channels(arr: np.ndarray, mask: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Quantus 0.6.0's IROF hands its mask as ``[B, 1, H, W]`` to a function that asserts the input's shape, so it
    fails on RGB images; the same replacement with the mask broadcast over the channels."""
    from quantus.functions.perturb_func import baseline_replacement_by_mask

    return baseline_replacement_by_mask(arr, np.broadcast_to(mask, arr.shape), **kwargs)


def impute_pixels(arr: np.ndarray, indices: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Quantus 0.6.0's ROAD ranks the map broadcast over the channels and hands element indices (up to 3 H W) to an
    imputation that indexes pixels (H W), so it fails on RGB images; the pixels those elements belong to."""
    from quantus.functions.perturb_func import noisy_linear_imputation

    return noisy_linear_imputation(arr, np.unique(indices % (arr.shape[-1] * arr.shape[-2])), **kwargs)


def model_and_inputs(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    images = sample_batch(batch)
    if name == "efficientnet_lite0":
        return load_model("efficientnet_lite0", device="cpu").module, images
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval(), images


def captum_infidelity(module: torch.nn.Module, x: torch.Tensor, maps: np.ndarray, y: torch.Tensor, s: dict) -> Any:
    from captum.metrics import infidelity

    from xai_core.metrics.infidelity import perturbations

    noise = perturbations(x.shape, s["samples"], s["sigma"], 0).float()

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = noise.reshape(-1, 1, *x.shape[2:]).expand_as(inputs)
        return shared, inputs - shared

    spread = torch.from_numpy(maps).float()[:, None].expand_as(x) / x.shape[1]
    return infidelity(module, perturb, x, spread, target=y, n_perturb_samples=s["samples"])


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all its threads) of ``fn()``: on a machine shared with other
    work the CPU time is the steadier measure of the work done."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_both(
    name: str, ours: dict[str, Any], peer: Callable[[], Any], call: dict[str, Any], module: torch.nn.Module,
    x: torch.Tensor, y: torch.Tensor, maps: np.ndarray,
) -> tuple[tuple[float, float], tuple[float, float], str]:  # fmt: skip
    """(wall, CPU) seconds of our call and of the peer's on the same data, and the peer's name."""
    t_ours = timed(lambda: metrics.evaluate(name, model=module, inputs=x, maps=maps, target=y, **ours))
    if peer() == "captum":
        return t_ours, timed(lambda: captum_infidelity(module, x, maps, y, ours)), "Captum"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "irof" and not hasattr(np, "trapz"):
            np.trapz = np.trapezoid  # type: ignore[attr-defined]  # Quantus 0.6.0 calls it (gone in NumPy 2.4)
        metric = peer()
        a_batch = maps[:, None].astype(np.float32)
        return t_ours, timed(lambda: metric(model=module, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a_batch,
                                            device="cpu", **call)), "Quantus"  # fmt: skip


def run(model_name: str, batch: int, only: list[str] | None) -> list[dict[str, Any]]:
    rows = []
    for name, (ours, peer, call) in cases(batch).items():
        if only and name not in only:
            continue
        images = max(batch, 2) if name == "sensitivity_n" else batch
        module, x = model_and_inputs(model_name, images)
        with torch.inference_mode():
            y = module(x).argmax(1)  # also the warm-up
        y = y.clone()
        maps = np.random.default_rng(0).random((images, SIDE, SIDE))
        t_ours, t_peer, who = time_both(name, ours, peer, call, module, x, y, maps)
        rows.append({"measure": name, "ours": t_ours, "peer": t_peer, "who": who, "settings": ours, "images": images})
        print(f"{name}: ours {t_ours[0]:.2f} s ({t_ours[1]:.2f} s CPU), {who} {t_peer[0]:.2f} s ({t_peer[1]:.2f} s "
              f"CPU), CPU ratio {t_peer[1] / t_ours[1]:.1f}x", flush=True)  # fmt: skip
    return rows


def render(rows: list[dict[str, Any]], model_name: str, batch: int, load: str) -> str:
    lines = [
        f"CPU ({os.cpu_count()} cores, torch {torch.__version__}, {platform.machine()}), {model_name}, images of "
        f"224 x 224, one call each after a warm-up; CPU seconds of the process (all threads) and wall seconds; load "
        f"averages (1, 5, 15 min) at the start and the end of each run: {load}",
        "",
        "| measure | images | our settings | ours: CPU (wall) | peer: CPU (wall) | peer / ours, CPU (wall) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        (ow, oc), (pw, pc) = r["ours"], r["peer"]
        lines.append(f"| `{r['measure']}` | {r['images']} | {settings} | {oc:.1f} s ({ow:.1f} s) | {r['who']} "
                     f"{pc:.1f} s ({pw:.1f} s) | **{pc / oc:.1f}x** ({pw / ow:.1f}x) |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0", choices=("efficientnet_lite0", "resnet18"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated measure ids")
    parser.add_argument("--out", type=Path, default=None, help="write the table into this markdown file")
    parser.add_argument("--rows", type=Path, default=None, help="JSON file keeping the rows of earlier runs")
    args = parser.parse_args()
    before = report.uptime()
    kept = json.loads(args.rows.read_text()) if args.rows and args.rows.exists() else {"rows": [], "load": []}
    rows = run(args.model, args.batch, [n for n in args.only.split(",") if n] or None)
    after = report.uptime()
    kept["load"].append(f"`{before.split('load average: ')[-1]}` / `{after.split('load average: ')[-1]}`")
    new = {r["measure"] for r in rows}
    kept["rows"] = [r for r in kept["rows"] if r["measure"] not in new] + rows
    order = list(cases(args.batch))
    rows = sorted(kept["rows"], key=lambda r: order.index(r["measure"]))
    if args.rows:
        args.rows.write_text(json.dumps(kept, indent=1))
    load = "; ".join(kept["load"])
    text = render(rows, args.model, args.batch, load)
    print(text)
    if args.out:
        report.update(args.out, text, "measures")


if __name__ == "__main__":
    main()
