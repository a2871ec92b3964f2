"""RemOve And Retrain (Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods in Deep Neural
Networks. NeurIPS 2019, https://arxiv.org/abs/1806.10758), on the digits benchmark of ``digits.py``.

For each method, the trained digits CNN's maps rank the features of every train and test image (a feature is one
native 8x8 pixel, the 4x4 block it became when upsampled, scored by the map's mean over the block); the top
``fraction`` of features (all 3 channels) is replaced by the per-channel train mean, a fresh CNN is trained on the
modified train set and evaluated on the modified test set. Retraining separates "the removed pixels carried the
information" from "the model never saw such images". A better ranking makes accuracy fall faster
(``higher_is_better=False``). A seeded random ranking is the baseline every method should beat.

As in the authors' code (google-research ``interpretability_benchmark``), maps explain the trained model's predicted
class and rank the raw map values (the method's display convention, ``Attribution.to_maps()``); the replacement is
the global per-channel mean. Differences, for speed on a laptop CPU: one training seed instead of five, a few
epochs (``EPOCHS``), 32x32 digits instead of ImageNet, and the ``fraction = 0`` model is trained once and shared by
every method (its data do not depend on the ranking). With ``DEFAULT_FRACTIONS``, two methods and the random
baseline this is 16 trainings of ``EPOCHS`` epochs each: about 1.5 minutes on 2 CPU cores.

Caveat (Rong et al., ROAD, ICML 2022): the shape of the removed region can itself leak the class. On these digits
(strokes on a black background) it dominates: with seed 0, removing 90% of the features by the saliency or guided
backprop ranking left retrained models at 0.93 and 0.96 accuracy, by the random ranking at 0.63, because the
mean-filled region draws the digit's silhouette. Read a curve that stays above the random baseline as this leak,
not as a good ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.attribution import attribute
from xai_core.sanity import digits

DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
EPOCHS = 6  # per retraining; the clean model reaches 0.97 test accuracy in this budget
RANDOM = "random"
# The 32x32 digits are 8x8 images upsampled: one native pixel spans a 4x4 block, and removing single upsampled
# pixels removes little (a random 90% of them left a retrained model at 0.92 accuracy: the rest interpolate it).
BLOCK = 4
_CHUNK = 256


@dataclass(frozen=True)
class RoarResult:
    """Test accuracy of a model retrained after removing the top ``fractions`` of pixels by each ranking."""

    methods: tuple[str, ...]  # the requested methods, then "random" if the baseline ran
    fractions: tuple[float, ...]
    accuracy: Mapping[str, tuple[float, ...]]  # method -> accuracy per fraction
    epochs: int
    seed: int
    seconds: float
    higher_is_better: bool = False  # lower accuracy after removal: the ranking found the informative pixels

    def table(self) -> dict[str, list[float]]:
        """Columns for plotting: ``fraction`` and one accuracy column per method."""
        return {"fraction": list(self.fractions), **{m: list(self.accuracy[m]) for m in self.methods}}


def rank_maps(model: nn.Module, x: Tensor, method: str, **params: Any) -> Tensor:
    """The method's 2-D maps ``[N, H, W]`` of ``x`` for ``model``'s predicted classes, computed in chunks."""
    maps = [
        torch.from_numpy(attribute(model, x[i : i + _CHUNK], method, **params).to_maps())
        for i in range(0, len(x), _CHUNK)
    ]
    return torch.cat(maps)


def remove_top(x: Tensor, scores: Tensor, fraction: float, fill: Tensor, block: int = 1) -> Tensor:
    """Replace the ``fraction`` of features with the highest ``scores`` ``[N, H, W]`` by ``fill`` ``[C]``.

    A feature is a ``block`` x ``block`` square of pixels, scored by the mean of the map over it.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1]; got {fraction}")
    n, _, h, w = x.shape
    if h % block or w % block:
        raise ValueError(f"block must divide the image size {h}x{w}; got {block}")
    pooled = torch.nn.functional.avg_pool2d(scores.reshape(n, 1, h, w).float(), block) if block > 1 else scores
    hb, wb = h // block, w // block
    k = round(fraction * hb * wb)
    if k == 0:
        return x.clone()
    top = pooled.reshape(n, hb * wb).topk(k, dim=1).indices
    mask = torch.zeros(n, hb * wb, dtype=torch.bool).scatter_(1, top, True).view(n, 1, hb, wb)
    if block > 1:
        mask = mask.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)
    return torch.where(mask, fill.view(1, -1, 1, 1).to(x.dtype), x)


def roar(
    methods: Sequence[str],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    epochs: int = EPOCHS,
    random_baseline: bool = True,
    block: int = BLOCK,
    method_params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[float], None] | None = None,
) -> RoarResult:
    """Run ROAR for ``methods`` on the digits benchmark.

    Args:
        methods: registry ids; CAM methods use the CNN's last conv (``DigitsCNN.cam_layer``).
        fractions: fractions of pixels removed, each in ``[0, 1]``.
        seed: the split, the trained model, the random ranking and every retraining (same seed for all).
        epochs: epochs of each retraining.
        random_baseline: add the seeded random ranking as method ``"random"``.
        block: side of the square of pixels removed as one feature; ``BLOCK`` (4) makes the features the digits'
            native 8x8 pixels, 1 removes single pixels of the 32x32 upsampled image.
        method_params: optional ``attribute`` keyword arguments per method.
        progress: called with the fraction of trainings done.
    """
    names = list(dict.fromkeys(methods))
    fracs = tuple(float(f) for f in fractions)
    if not fracs or any(not 0.0 <= f <= 1.0 for f in fracs):
        raise ValueError(f"fractions must be a non-empty sequence of values in [0, 1]; got {list(fractions)}")
    if RANDOM in names:
        raise ValueError(f"{RANDOM!r} is the baseline (random_baseline=True), not a method")
    with digits.single_thread():  # see single_thread: one thread is several times faster for this small CNN
        return _roar(names, fracs, seed, epochs, random_baseline, block, method_params or {}, progress)


def _roar(
    names: list[str],
    fracs: tuple[float, ...],
    seed: int,
    epochs: int,
    random_baseline: bool,
    block: int,
    method_params: Mapping[str, Mapping[str, Any]],
    progress: Callable[[float], None] | None,
) -> RoarResult:
    start = time.perf_counter()
    data = digits.load_digits_data(seed)
    model = digits.train_digits_cnn("true", seed=seed)
    h, w = data.x_train.shape[-2:]

    rankings: dict[str, tuple[Tensor, Tensor]] = {}
    for name in names:
        extra = dict(method_params.get(name, {}))
        rankings[name] = (rank_maps(model, data.x_train, name, **extra), rank_maps(model, data.x_test, name, **extra))
    if random_baseline:
        generator = torch.Generator().manual_seed(seed)
        rankings[RANDOM] = (
            torch.rand(len(data.x_train), h, w, generator=generator),
            torch.rand(len(data.x_test), h, w, generator=generator),
        )

    total = len(rankings) * sum(f > 0 for f in fracs) + (0.0 in fracs)
    done = 0
    cache: dict[float, float] = {}

    def retrain(train_scores: Tensor, test_scores: Tensor, fraction: float) -> float:
        nonlocal done
        if fraction == 0.0 and 0.0 in cache:  # no pixel removed: the same data for every ranking
            return cache[0.0]
        x_train = remove_top(data.x_train, train_scores, fraction, data.mean, block)
        x_test = remove_top(data.x_test, test_scores, fraction, data.mean, block)
        retrained = digits.fit(x_train, data.y_train, epochs=epochs, seed=seed)
        acc = digits.accuracy(retrained, x_test, data.y_test)
        if fraction == 0.0:
            cache[0.0] = acc
        done += 1
        if progress is not None:
            progress(done / total)
        return acc

    accuracy = {name: tuple(retrain(*scores, f) for f in fracs) for name, scores in rankings.items()}
    return RoarResult(
        methods=tuple(rankings),
        fractions=fracs,
        accuracy=MappingProxyType(accuracy),
        epochs=epochs,
        seed=seed,
        seconds=time.perf_counter() - start,
    )
