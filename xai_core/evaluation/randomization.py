"""Model randomization at scale: the cascading or independent test of Adebayo et al. over a sample of images.

Sanity Checks for Saliency Maps (NeurIPS 2018, https://arxiv.org/abs/1810.03292), sec. 4: the figures plot, per
re-initialised layer (from the logits down), the similarity between the trained model's map and the randomised
model's, averaged over images. Each work item is one (image, method); the worker runs
``sanity.model_randomization`` on a batch (its layers are re-initialised with ``seed + position``, the same
randomised networks for every image, as in the paper) and writes a row per (layer, similarity measure). The summary
(``layer_table``) gives per method, layer and measure the mean with a bootstrap 95% interval and n.

Settings (validated, part of the results spec): ``mode`` (cascading or independent), ``measures``
(``sanity.MEASURES``), ``seed`` and ``layers`` (the top-most N parameter layers; 0 = all of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xai_core.evaluation.plan import RANDOMIZATION
from xai_core.params import ChoiceParam, IntParam, ParameterError, validate

if TYPE_CHECKING:
    from xai_core.evaluation.worker import Worker, _Image
    from xai_core.request import Request

MODES = ("cascading", "independent")
PARAMS = (
    ChoiceParam("mode", "cascading", "re-initialise layers cumulatively from the logits down, or one at a time", MODES),
    IntParam("seed", 0, "layer i (from the top) is re-initialised with seed + i", low=0, high=2**31 - 1),
    IntParam("layers", 0, "randomise the top-most N parameter layers only (0: all)", low=0, high=100_000),
)


def resolve(mode: str = "cascading", measures: Sequence[str] | str = ("spearman_abs", "ssim"), seed: int = 0,
            layers: int = 0) -> dict[str, Any]:  # fmt: skip
    """Validated settings; ``ParameterError`` naming the setting, its range and the value otherwise."""
    from xai_core.sanity.similarity import MEASURES

    names = [m.strip() for m in measures.split(",")] if isinstance(measures, str) else list(measures)
    unknown = [m for m in names if m not in MEASURES]
    if unknown or not names:
        raise ParameterError(f"randomization: parameter 'measures' must be names from {list(MEASURES)}; got {names}")
    resolved = validate(PARAMS, {"mode": mode, "seed": seed, "layers": layers}, "randomization")
    return {**resolved, "measures": names}


def score(worker: Worker, request: Request, images: Sequence[_Image]) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """Rows' fields per image (one per layer and measure), keyed like ``Worker.score``."""
    from xai_core.batching import chunks
    from xai_core.evaluation.worker import seeded_for, stochastic
    from xai_core.sanity import model_randomization, parameter_layers

    settings = worker.config.randomization or {}
    top_down = [name for name, _ in reversed(parameter_layers(worker.model))]
    chosen = top_down[: settings["layers"]] if settings["layers"] else top_down
    out: dict[tuple[int, str], list[dict[str, Any]]] = {}
    size = 1 if stochastic(request) else worker._chunk_size(images[0].x)
    for part in chunks(len(images), size):
        batch = images[part]
        run = seeded_for(request, batch[0].id) if stochastic(request) else request
        try:
            result = model_randomization(
                worker.model, _stack(batch), run.method, target=[im.target for im in batch], mode=settings["mode"],
                layers=chosen, seed=settings["seed"], similarity=settings["measures"], noise=run.noise,
                output=run.output, layer=run.layer, **dict(run.params),
            )  # fmt: skip
        except Exception as err:
            for im in batch:
                out[(im.index, RANDOMIZATION)] = [{"status": "error", "error": f"{type(err).__name__}: {err}"}]
            continue
        for i, im in enumerate(batch):
            out[(im.index, RANDOMIZATION)] = [
                {
                    "measure": measure,
                    "layer": step.layer,
                    "layer_index": position,
                    "value": float(step.similarity[measure][i]),
                }
                for position, step in enumerate(result.steps)
                for measure in settings["measures"]
            ]
    return out


def _stack(batch: Sequence[_Image]) -> Any:
    import torch

    return torch.cat([im.x for im in batch])


def layer_table(frame: pd.DataFrame, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per method, measure and layer (top-down order): mean similarity, bootstrap interval and n."""
    from xai_core.evaluation.summarize import interval

    rows = frame[(frame["metric"] == RANDOMIZATION) & (frame["status"] == "ok")]
    out = []
    for (method, measure, position, layer), group in rows.groupby(["method", "measure", "layer_index", "layer"]):
        values = group["value"].to_numpy(dtype=np.float64)
        low, high = interval(values, confidence=confidence, resamples=resamples, seed=seed)
        out.append({"method": method, "measure": measure, "layer_index": int(position), "layer": layer,
                    "mean": float(np.nanmean(values)) if len(values) else np.nan, "low": low, "high": high,
                    "n": int(np.isfinite(values).sum())})  # fmt: skip
    columns = ["method", "measure", "layer_index", "layer", "mean", "low", "high", "n"]
    return pd.DataFrame(out, columns=columns).sort_values(["method", "measure", "layer_index"]).reset_index(drop=True)
