"""RemOve And Retrain and Keep And Retrain (Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods
in Deep Neural Networks. NeurIPS 2019, https://arxiv.org/abs/1806.10758; the authors' code is google-research
``interpretability_benchmark``): the feature replacement, the retraining loop, and the digits benchmark.

For a ranking of every train and test image's features (a method's maps, or a seeded random ranking), ROAR replaces
the top ``fraction`` of features by the per-channel mean of the training set and KAR replaces all but the top
``fraction``; a model is retrained on the modified train split and evaluated on the modified test split. Retraining
separates "the removed pixels carried the information" from "the model never saw such images". A better ranking
makes ROAR accuracy fall faster (``higher_is_better=False``) and KAR accuracy stay higher (``True``); the random
ranking is the baseline every method should beat.

This module holds what every setting shares: ``replace_features`` (the authors' ``compute_feature_ranking``: the top
``floor(fraction * n)`` features, per-channel mean fill), ``Modified`` (a split modified lazily, batch by batch, so a
data set never sits in memory twice), ``ranking_curves`` (the loop over modes, fractions and training seeds, with a
step callback before each retraining, for progress and cancelling) and a ``Retrainer`` protocol. Retrainers: the
digits CNN from scratch (here), a head on a frozen backbone or the whole model fine-tuned (``roar_retrain``); the
user's images and model come through ``roar_folder``, which documents how it deviates from the paper.

Digits benchmark (``roar``): the trained digits CNN's maps rank the features of every train and test image (a feature
is one native 8x8 pixel, the 4x4 block it became when upsampled, scored by the map's mean over the block), and a
fresh CNN is trained from scratch per fraction, as in the paper. Differences, for speed on a laptop CPU: one training
seed instead of five, a few epochs (``EPOCHS``), 32x32 digits instead of ImageNet, ROAR only, and the ``fraction =
0`` model is trained once and shared by every method (its data do not depend on the ranking). With the default
fractions, two methods and the random baseline this is 16 trainings: about 1.5 minutes on 2 idle CPU cores (4.8 at
a load average of 12).

As in the authors' code, maps explain the trained model's predicted class and the raw map values are ranked (here the
method's display map, ``Attribution.to_maps()``, one value per pixel: all channels of a pixel are replaced together,
where the authors rank the 224x224x3 values of a 3-D map one by one).

Caveat (Rong et al., ROAD, ICML 2022, https://arxiv.org/abs/2202.00449): the shape of the removed region can itself
leak the class, since the retrained model sees where the mean was filled in. On these digits (strokes on a black
background) it dominates: with seed 0, removing 90% of the features (57 of the 64 native pixels) by the saliency or
guided backprop ranking left retrained models at 0.94 and 0.95 accuracy, by the random ranking at 0.70, because the
mean-filled region draws the digit's silhouette. Read a curve that stays above the random baseline as this leak, not
as a good ranking.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from xai_core.attribution import attribute
from xai_core.sanity import digits

FRACTIONS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)  # the paper's thresholds (plus the unmodified model)
MODES = ("roar", "kar")
DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)  # digits: 0 is the clean model
EPOCHS = 6  # per digits retraining; the clean model reaches 0.97 test accuracy in this budget
RANDOM = "random"
# The 32x32 digits are 8x8 images upsampled: one native pixel spans a 4x4 block, and removing single upsampled
# pixels removes little (a random 90% of them left a retrained model at 0.92 accuracy: the rest interpolate it).
BLOCK = 4
_CHUNK = 256


class Cancelled(Exception):
    """Raised by a step callback to stop the loop; what was finished before it stays finished."""


def feature_count(fraction: float, total: int) -> int:
    """``floor(fraction * total)``, as the authors' ``np.int((threshold / 100.) * total_pixels)`` (the tiny epsilon
    keeps 0.7 * 10 from flooring to 6 through binary rounding)."""
    return min(total, math.floor(fraction * total + 1e-9))


def replace_features(
    x: Tensor, scores: Tensor, fraction: float, fill: Tensor, *, block: int = 1, keep: bool = False
) -> Tensor:
    """ROAR (``keep=False``): replace the ``fraction`` of features with the highest ``scores`` ``[N, H, W]`` by
    ``fill`` ``[C]``; KAR (``keep=True``): keep them and replace all the others.

    A feature is a ``block`` x ``block`` square of pixels (all channels), scored by the mean of the map over it; the
    top ``floor(fraction * features)`` are chosen per image (ties in an arbitrary order, as ``tf.nn.top_k``).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1]; got {fraction}")
    n, _, h, w = x.shape
    if h % block or w % block:
        raise ValueError(f"block must divide the image size {h}x{w}; got {block}")
    if scores.shape != (n, h, w):
        raise ValueError(f"scores must be [N, H, W] = {[n, h, w]}; got {list(scores.shape)}")
    scores = scores.to(x.device)
    pooled = torch.nn.functional.avg_pool2d(scores.reshape(n, 1, h, w).float(), block) if block > 1 else scores
    hb, wb = h // block, w // block
    k = feature_count(fraction, hb * wb)
    top = torch.zeros(n, hb * wb, dtype=torch.bool, device=x.device)
    if k:
        top.scatter_(1, pooled.reshape(n, hb * wb).topk(k, dim=1).indices, True)
    mask = (~top if keep else top).view(n, 1, hb, wb)
    if block > 1:
        mask = mask.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)
    return torch.where(mask, fill.view(1, -1, 1, 1).to(x.device, x.dtype), x)


def remove_top(x: Tensor, scores: Tensor, fraction: float, fill: Tensor, block: int = 1) -> Tensor:
    """ROAR's modification: ``replace_features(..., keep=False)``."""
    return replace_features(x, scores, fraction, fill, block=block)


@dataclass(frozen=True)
class Split:
    """Images ``x`` ``[N, C, H, W]`` as pixels (uint8 0..255, or float in [0, 1]) and class indices ``y`` ``[N]``."""

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or len(self.x) != len(self.y):
            raise ValueError(f"a split is x [N, C, H, W] with N labels; got {list(self.x.shape)} and {len(self.y)}")


@dataclass(frozen=True)
class Modified:
    """A split with its top features replaced (``scores=None``: unmodified), computed batch by batch on demand."""

    split: Split
    scores: Tensor | None
    fraction: float
    keep: bool
    fill: Tensor  # [C] in [0, 1]
    block: int = 1

    def __len__(self) -> int:
        return len(self.split.y)

    @property
    def y(self) -> Tensor:
        return self.split.y

    def take(self, index: Tensor | slice, device: torch.device | str | None = None) -> Tensor:
        """Float pixels in [0, 1] of the images at ``index``, modified, on ``device``."""
        x = self.split.x[index].to(device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.scores is None:
            return x
        return replace_features(x, self.scores[index], self.fraction, self.fill, block=self.block, keep=self.keep)

    def batches(self, size: int, device: torch.device | str | None = None) -> Iterator[tuple[slice, Tensor]]:
        for start in range(0, len(self), size):
            part = slice(start, min(start + size, len(self)))
            yield part, self.take(part, device)

    def tensor(self) -> Tensor:
        return self.take(slice(None))


class Retrainer(Protocol):
    """Train a fresh model on ``train`` per seed and return each one's test accuracy on ``test``."""

    def __call__(self, train: Modified, test: Modified, seeds: Sequence[int]) -> list[float]: ...


Step = Callable[[str], None]  # called before each retraining with what it is; may raise Cancelled


def clean_accuracies(
    train: Split, test: Split, fill: Tensor, retrainer: Retrainer, seeds: Sequence[int], step: Step | None = None
) -> list[float]:
    """Accuracy per seed of models trained on the unmodified data (ROAR at 0, KAR at 1)."""
    if step is not None:
        step("retraining on the unmodified images")
    return retrainer(Modified(train, None, 0.0, False, fill), Modified(test, None, 0.0, False, fill), seeds)


def ranking_curves(
    train: Split,
    test: Split,
    fill: Tensor,
    scores: tuple[Tensor, Tensor],
    retrainer: Retrainer,
    *,
    modes: Sequence[str] = MODES,
    fractions: Sequence[float] = FRACTIONS,
    seeds: Sequence[int] = (0,),
    block: int = 1,
    step: Step | None = None,
) -> dict[str, list[list[float]]]:
    """Accuracy ``[seed][fraction]`` per mode for one ranking (``scores``: train and test ``[N, H, W]``)."""
    out: dict[str, list[list[float]]] = {}
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
        columns = []
        for fraction in fractions:
            if step is not None:
                step(f"{mode.upper()} at {fraction:g}")
            keep = mode == "kar"
            modified = [
                Modified(s, sc, fraction, keep, fill, block) for s, sc in zip((train, test), scores, strict=True)
            ]
            columns.append(retrainer(modified[0], modified[1], seeds))
        out[mode] = [[column[i] for column in columns] for i in range(len(seeds))]
    return out


# --- the digits benchmark ----------------------------------------------------------------------------------------


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


def digits_retrainer(epochs: int) -> Retrainer:
    """A fresh ``DigitsCNN`` trained from scratch per seed on the modified train split (the paper's retraining)."""

    def retrain(train: Modified, test: Modified, seeds: Sequence[int]) -> list[float]:
        x_train, x_test = train.tensor(), test.tensor()
        return [digits.accuracy(digits.fit(x_train, train.y, epochs=epochs, seed=s), x_test, test.y) for s in seeds]

    return retrain


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
    train, test = Split(data.x_train, data.y_train), Split(data.x_test, data.y_test)

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

    removed = tuple(f for f in fracs if f > 0)
    total = len(rankings) * len(removed) + (0.0 in fracs)
    done = 0

    def step(_what: str) -> None:  # called before each training: report the ones before it
        nonlocal done
        if progress is not None and done:
            progress(done / total)
        done += 1

    retrainer = digits_retrainer(epochs)
    # No pixel removed: the same data for every ranking, trained once.
    clean = clean_accuracies(train, test, data.mean, retrainer, [seed], step)[0] if 0.0 in fracs else math.nan
    accuracy = {}
    for name, scores in rankings.items():
        curve = ranking_curves(
            train, test, data.mean, scores, retrainer, modes=("roar",), fractions=removed, seeds=[seed], block=block,
            step=step,
        )["roar"][0]  # fmt: skip
        by_fraction = dict(zip(removed, curve, strict=True))
        accuracy[name] = tuple(clean if f == 0.0 else by_fraction[f] for f in fracs)
    if progress is not None:
        progress(1.0)
    return RoarResult(
        methods=tuple(rankings),
        fractions=fracs,
        accuracy=MappingProxyType(accuracy),
        epochs=epochs,
        seed=seed,
        seconds=time.perf_counter() - start,
    )
