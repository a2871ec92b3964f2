"""Robustness, complexity, randomization and mask-localisation measures: our cost against Quantus 0.6's.

    python -m bench.robustness [--images 4] [--samples 10] [--repeats 3] [--out docs/benchmarks.md]

Same model (the bundled EfficientNet-Lite0's module, so both libraries perturb the same input space), same images
(``bench.workloads``), same targets, same settings, and the same explainer on both sides (our ``saliency``, wrapped
for Quantus as numpy in / numpy out), so the ratio is the cost of the measure's own work: how perturbed copies are
batched, how many forwards it adds, how it scores. Quantus' sMPRT smooths with ``quantus.explain`` whatever
``explain_func`` it is given; it is routed to the same explainer. Complexity and mask measures take ``--maps``
random maps (and masks) at 224 x 224. Candidates are timed interleaved (``bench.timing.interleaved``); medians.
Results go between the ``bench:robustness`` markers of docs/benchmarks.md with the machine's load (``uptime``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xai_core
from bench import report
from bench.timing import interleaved, median
from bench.workloads import build
from xai_core import metrics
from xai_core.batching import auto_chunk_size

ROBUSTNESS = (
    "max_sensitivity", "avg_sensitivity", "local_lipschitz_estimate", "relative_input_stability",
    "relative_output_stability", "relative_representation_stability",
)  # fmt: skip
SUITE = ROBUSTNESS[:2] + ROBUSTNESS[3:]  # the measures sharing one set of uniform perturbations
MAPS_ONLY = ("sparseness", "complexity", "effective_complexity")
MASKS = ("relevance_mass_accuracy", "relevance_rank_accuracy", "top_k_intersection", "attribution_localisation",
         "mask_auc")  # fmt: skip


def quantus_cases(module: torch.nn.Module, samples: int, radius: float, representation: str) -> dict[str, Any]:
    """Each measure's Quantus metric, configured as ours: ``name -> (instance, needs explain, needs masks)``."""
    import quantus

    uniform = {"perturb_func_kwargs": {"lower_bound": -radius, "upper_bound": radius}}  # U[-r, r] as ours
    quiet = {"disable_warnings": True}
    return {
        "max_sensitivity": quantus.MaxSensitivity(nr_samples=samples, lower_bound=radius, **quiet),
        "avg_sensitivity": quantus.AvgSensitivity(nr_samples=samples, lower_bound=radius, **quiet),
        "local_lipschitz_estimate": quantus.LocalLipschitzEstimate(nr_samples=samples, perturb_std=0.1, **quiet),
        "relative_input_stability": quantus.RelativeInputStability(nr_samples=samples, **uniform, **quiet),
        "relative_output_stability": quantus.RelativeOutputStability(nr_samples=samples, **uniform, **quiet),
        "relative_representation_stability": quantus.RelativeRepresentationStability(
            nr_samples=samples, layer_names=[representation], **uniform, **quiet
        ),
        "sparseness": quantus.Sparseness(**quiet),
        "complexity": quantus.Complexity(**quiet),
        "effective_complexity": quantus.EffectiveComplexity(**quiet),
        "relevance_mass_accuracy": quantus.RelevanceMassAccuracy(**quiet),
        "relevance_rank_accuracy": quantus.RelevanceRankAccuracy(**quiet),
        "top_k_intersection": quantus.TopKIntersection(k=1000, **quiet),
        "attribution_localisation": quantus.AttributionLocalisation(abs=False, positive_attributions=True, **quiet),
        "mask_auc": quantus.AUC(**quiet),
        "random_logit": quantus.RandomLogit(num_classes=1000, seed=0, **quiet),
        "efficient_mprt": quantus.EfficientMPRT(**quiet),
        "smooth_mprt": quantus.SmoothMPRT(nr_samples=samples, skip_layers=True, return_last_correlation=True, **quiet),
    }


def run(images: int, samples: int, maps_count: int, repeats: int, names: list[str]) -> list[dict[str, Any]]:
    import quantus

    wl = build("efficientnet_lite0", torch.device("cpu"), max(images, 1))
    module, x, y = wl.module, *wl.batch(images)
    radius = 0.02

    def ours_explain(batch: torch.Tensor, classes: torch.Tensor, model: Any = None) -> Any:
        return xai_core.attribute(model if model is not None else module, batch, "saliency", target=classes)

    def q_explain(model: Any, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        batch = torch.as_tensor(inputs, dtype=torch.float32)
        return xai_core.attribute(model, batch, "saliency", target=torch.as_tensor(targets)).to_maps()[:, None]

    quantus.explain = lambda model, inputs, targets, **_: q_explain(model, inputs, targets)  # sMPRT's smoothing
    auto_chunk_size(module, x)  # the memory probe ours runs once per model and input shape: not part of a measure
    ours_explain(x, y)
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(maps_count, 224, 224))
    masks = np.zeros((maps_count, 224, 224), dtype=bool)
    masks[:, 60:160, 40:180] = True
    representation = "global_pool.flatten"
    cases = quantus_cases(module, samples, radius, representation)
    xn, yn = x.numpy(), y.numpy()
    zeros, labels = np.zeros((maps_count, 1, 224, 224)), np.zeros(maps_count, dtype=int)  # Quantus' x and y
    settings: dict[str, dict[str, Any]] = {name: {"samples": samples} for name in ROBUSTNESS}
    for name in SUITE:
        settings[name]["radius"] = radius
    settings.update(smooth_mprt={"samples": samples, "layers": "last"})
    rows = []
    for name in names:
        q = cases[name]
        if name in MAPS_ONLY or name in MASKS:
            s_batch = masks[:, None].astype(float) if name in MASKS else None

            def ours(name: str = name) -> Any:
                return metrics.evaluate(name, maps=maps, masks=masks if name in MASKS else None)

            def theirs(q: Any = q, s_batch: Any = s_batch) -> Any:
                return q(model=None, x_batch=zeros, y_batch=labels, a_batch=maps[:, None].copy(), s_batch=s_batch)

            work = f"{maps_count} maps 224x224"
        else:

            def ours(name: str = name) -> Any:
                return metrics.evaluate(name, model=module, inputs=x, explainer=ours_explain, target=y,
                                        **settings.get(name, {}))  # fmt: skip

            def theirs(q: Any = q) -> Any:
                return q(model=module, x_batch=xn, y_batch=yn, explain_func=q_explain, device="cpu")

            work = f"{images} images, {samples} samples" if name not in ("random_logit", "efficient_mprt") else (
                f"{images} images"
            )  # fmt: skip
        times = interleaved({"ours": ours, "quantus": theirs}, repeats, torch.device("cpu"), warmup=name in MASKS)
        rows.append({"measure": name, "work": work, "ours": median(times["ours"]),
                     "quantus": median(times["quantus"])})  # fmt: skip
        print(f"{name:36s} ours {rows[-1]['ours']:8.3f} s  quantus {rows[-1]['quantus']:8.3f} s", flush=True)
    if set(SUITE) <= set(names):
        suite_times = interleaved(
            {"ours": lambda: metrics.evaluate_many(list(SUITE), model=module, inputs=x, explainer=ours_explain,
                                                   target=y, samples=samples, radius=radius)},
            repeats, torch.device("cpu"), warmup=False,
        )  # fmt: skip
        quantus_sum = sum(r["quantus"] for r in rows if r["measure"] in SUITE)
        rows.append({"measure": "the five uniform measures together (evaluate_many)", "work": rows[0]["work"],
                     "ours": median(suite_times["ours"]), "quantus": quantus_sum})  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]], images: int, samples: int, load: str, seconds: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"### Robustness, complexity, randomization and mask measures against Quantus 0.6 ({when})",
        "",
        f"`python -m bench.robustness --images {images} --samples {samples}`; {report.machine()}; load before the run: "
        f"`{load}`; {seconds:.0f} s in all. EfficientNet-Lite0's module at 224 x 224, saliency as the explainer "
        "on both sides, medians of interleaved rounds. Quantus' sum for the five measures is what a user pays "
        "calling its five metrics.",
        "",
        "| measure | work | ours | Quantus | Quantus / ours |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['measure']} | {r['work']} | {r['ours']:.3f} s | {r['quantus']:.3f} s | "
                     f"{r['quantus'] / r['ours']:.1f}x |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10, help="perturbed / noisy copies per image")
    parser.add_argument("--maps", type=int, default=16, help="maps for the complexity and mask measures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="measure ids (default: all)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to update ('-' prints only)")
    args = parser.parse_args(argv)
    load = report.uptime()
    names = args.only or [*ROBUSTNESS, *MAPS_ONLY, *MASKS, "random_logit", "efficient_mprt", "smooth_mprt"]
    start = time.perf_counter()
    rows = run(args.images, args.samples, args.maps, args.repeats, names)
    text = markdown(rows, args.images, args.samples, load, time.perf_counter() - start)
    print(text)
    if args.out != "-":
        report.update(Path(args.out), text, "robustness")


if __name__ == "__main__":
    main()
