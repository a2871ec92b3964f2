"""A small, fast benchmark for the data-randomization test and ROAR: scikit-learn's digits and a tiny ReLU CNN.

The 1,797 8x8 grey digits of ``sklearn.datasets.load_digits`` (no download) are scaled to ``[0, 1]``, upsampled to
32x32 (bilinear) and repeated over 3 channels so that every image method applies. A seeded stratified split keeps
75% for training and 25% for testing.

The CNN (``DigitsCNN``) is standardize-conv-ReLU-conv-ReLU-maxpool-conv-ReLU-flatten-linear, about 26k parameters:
ReLU throughout (guided backprop, deconvnet and RectGrad reach every activation), no batch norm (train and eval
behave alike). Training is Adam with a one-cycle learning rate, batch 32, on one intra-op thread (``single_thread``).
Seed 0 on the 2-core CPU: true labels, 8 epochs, about 8 s, test accuracy 0.98; permuted labels, 40 epochs, about
25 s, train accuracy 0.98 and test accuracy 0.09 (memorised, nothing learned).

Trained weights are cached on disk, keyed by a hash of the training configuration, so that the app does not
retrain on every visit: ``$XAI_CACHE_DIR/digits/`` if that variable is set, else ``~/.cache/saliency-studio/digits/``.
Files are written atomically and read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

Labels = Literal["true", "permuted"]
IMAGE_SIZE = 32
CLASSES = 10
# Bump when the data pipeline or the architecture changes: cached weights of older versions are then ignored.
FORMAT_VERSION = 1
_TRAINING = threading.RLock()
PIXEL_MEAN, PIXEL_STD = 0.3053, 0.3236  # over all 1,797 upsampled digits
WIDTHS = (8, 16, 32)


@dataclass(frozen=True)
class DigitsData:
    """The split: images ``[N, 3, 32, 32]`` in ``[0, 1]``, labels ``[N]``; ``mean`` is the per-channel train mean."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor  # [3]
    seed: int


@functools.lru_cache(maxsize=4)
def load_digits_data(seed: int = 0, test_fraction: float = 0.25) -> DigitsData:
    """Load, upsample and split the digits (cached per seed; treat the tensors as read-only)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [N, 1, 8, 8], pixel values 0..16
    x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    x = x.clamp(0.0, 1.0).repeat(1, 3, 1, 1).contiguous()
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    train, test = torch.as_tensor(idx_train), torch.as_tensor(idx_test)
    x_train = x[train]
    return DigitsData(x_train, y[train], x[test], y[test], x_train.mean(dim=(0, 2, 3)), seed)


class Standardize(nn.Module):
    """``(x - mean) / std`` with the digits' pixel statistics: inputs stay in ``[0, 1]`` for display and ROAR."""

    def __init__(self, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class DigitsCNN(nn.Sequential):
    """standardize-conv(3->w1)-ReLU-conv(w1->w2)-ReLU-maxpool4-conv(w2->w3)-ReLU-flatten-linear(w3*8*8 -> 10).

    3x3 convs with padding 1; the 4x4 max pool brings 32x32 back to the digits' native 8x8 grid. The head is a
    linear layer on the flattened 8x8 map rather than global average pooling: with GAP (and even with a GAP+MLP
    head) the network stayed at chance on permuted labels after 30 epochs, so it could not serve the data
    randomization test; the flattened head memorises them in 40 epochs.
    """

    cam_layer = "6"  # the last conv (8x8), the default layer of the CAM methods

    def __init__(self, widths: tuple[int, int, int] = WIDTHS) -> None:
        w1, w2, w3 = widths
        super().__init__(
            Standardize(),
            nn.Conv2d(3, w1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(4),
            nn.Conv2d(w2, w3, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(w3 * (IMAGE_SIZE // 4) ** 2, CLASSES),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights; its hash names the cache file."""

    labels: Labels = "true"
    epochs: int = 8
    seed: int = 0
    lr: float = 3e-3
    batch_size: int = 32
    widths: tuple[int, int, int] = WIDTHS
    version: int = FORMAT_VERSION

    def key(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Measured with seed 0 on 2 CPU cores: true labels, 8 epochs, test accuracy 0.98 (about 8 s). Permuted labels,
# train accuracy 0.72 after 30 epochs, 0.98 after 40 (about 25 s), 0.999 after 50; test accuracy stays near 0.1.
DEFAULT_EPOCHS: dict[str, int] = {"true": 8, "permuted": 40}


def cache_dir() -> Path:
    """``$XAI_CACHE_DIR/digits`` if set, else ``~/.cache/saliency-studio/digits``."""
    root = os.environ.get("XAI_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "saliency-studio"
    return base / "digits"


def _seeded_model(widths: tuple[int, int, int], seed: int) -> DigitsCNN:
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG state untouched
        torch.manual_seed(seed)
        return DigitsCNN(widths)


def fit(
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    seed: int = 0,
    lr: float = 3e-3,
    batch_size: int = 32,
    widths: tuple[int, int, int] = WIDTHS,
    progress: Callable[[float], None] | None = None,
) -> DigitsCNN:
    """Train a fresh seeded ``DigitsCNN`` on ``(x, y)``: Adam, one-cycle learning rate (15% warm-up); eval mode."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {epochs}")
    with single_thread():
        return _fit(x, y, epochs, seed, lr, batch_size, widths, progress)


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread for the block, under a process-wide lock so concurrent callers cannot interleave.

    On the 2-core CPU we measured 3 training epochs at 2.6 s with one thread and 12-55 s with two (and the map of
    256 digits at 0.23 s against 0.79 s): these convolutions are too small to split across threads.
    """
    with _TRAINING:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _fit(
    x: Tensor,
    y: Tensor,
    epochs: int,
    seed: int,
    lr: float,
    batch_size: int,
    widths: tuple[int, int, int],
    progress: Callable[[float], None] | None,
) -> DigitsCNN:
    model = _seeded_model(widths, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(y) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if progress is not None:
            progress((epoch + 1) / epochs)
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model


@torch.inference_mode()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    correct = 0
    for start in range(0, len(y), batch_size):
        correct += int((model(x[start : start + batch_size]).argmax(dim=1) == y[start : start + batch_size]).sum())
    return correct / max(1, len(y))


def training_labels(data: DigitsData, labels: Labels, seed: int) -> Tensor:
    """The train labels, or a seeded permutation of them (Zhang et al. 2017; Adebayo et al. 2018, sec. 5)."""
    if labels == "true":
        return data.y_train
    if labels == "permuted":
        generator = torch.Generator().manual_seed(seed + 1)
        return data.y_train[torch.randperm(len(data.y_train), generator=generator)]
    raise ValueError(f"labels must be 'true' or 'permuted'; got {labels!r}")


def train_digits_cnn(
    labels: Labels = "true",
    *,
    epochs: int | None = None,
    seed: int = 0,
    cache: bool = True,
    progress: Callable[[float], None] | None = None,
) -> DigitsCNN:
    """The digits CNN trained on true or permuted labels, loaded from the disk cache when available.

    Args:
        labels: ``"true"``, or ``"permuted"`` for the data-randomization test (labels shuffled once, seeded).
        epochs: training epochs; ``DEFAULT_EPOCHS[labels]`` if None.
        seed: the split, the initialisation, the batch order and the permutation.
        cache: read and write ``cache_dir()``; the file name holds a hash of the training configuration.
        progress: called with the fraction of epochs done (not called on a cache hit).

    Returns:
        A ``DigitsCNN`` in eval mode; ``model.cam_layer`` names its last conv for CAM methods.
    """
    if labels not in DEFAULT_EPOCHS:
        raise ValueError(f"labels must be 'true' or 'permuted'; got {labels!r}")
    config = TrainConfig(labels=labels, epochs=DEFAULT_EPOCHS[labels] if epochs is None else epochs, seed=seed)
    path = cache_dir() / f"digits_cnn_{labels}_{config.key()}.pt"
    with _TRAINING:  # a second caller for the same model waits, then finds it in the cache
        if cache and path.is_file():
            model = DigitsCNN(config.widths)
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                return model.eval()
            except Exception as exc:  # a damaged file: retrain and overwrite it
                warnings.warn(f"ignoring the unreadable cached model {path}: {exc}", stacklevel=2)
        return _train_and_save(config, path if cache else None, progress)


def _train_and_save(config: TrainConfig, path: Path | None, progress: Callable[[float], None] | None) -> DigitsCNN:
    data = load_digits_data(config.seed)
    model = fit(
        data.x_train,
        training_labels(data, config.labels, config.seed),
        epochs=config.epochs,
        seed=config.seed,
        lr=config.lr,
        batch_size=config.batch_size,
        widths=config.widths,
        progress=progress,
    )
    if path is not None:
        _atomic_save(model.state_dict(), path)
    return model


def _atomic_save(state: dict[str, Tensor], path: Path) -> None:
    """Write to a temporary file and rename, so concurrent sessions never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
