"""Retrainers for ROAR/KAR on a user's model (``roar.Retrainer``): a head on the frozen backbone, or the whole model.

* ``HeadRetrainer`` (``retrain="linear"`` or ``"mlp"``): the backbone is the model with its last ``nn.Linear`` taken
  out (a deep copy; the caller's model is never changed), so its output is the pooled features that layer reads
  (1280 for EfficientNet-Lite0, 512 for ResNet-18). Each modified image goes through it once under
  ``torch.inference_mode``; features are standardised with the modified train split's mean and standard deviation;
  then per training seed a fresh head (a linear layer, or linear-ReLU-linear with ``hidden`` units), initialised
  from the seed, is fitted by full-batch L-BFGS (strong Wolfe line search, ``iterations`` at most) to the mean
  cross-entropy plus ``l2 / 2`` times the squared norm of its weights, as scikit-learn fits a logistic regression:
  a probe trained to convergence, not one stopped early by a learning-rate schedule. The linear probe's objective
  is strictly convex, so its seeds agree up to the float32 optimiser's tolerance (weights within about 0.1% of their
  size on 1280-d features): its spread over seeds is near zero (a test image on the decision boundary can still
  flip); the MLP's seeds give different heads. The split is checked once: the model's last ``nn.Linear``
  applied to the backbone's output must give the model's logits, otherwise the model is not "features, then that
  layer" and the head setting is refused with the reason.
* ``FineTuneRetrainer`` (``retrain="full"``): per seed, a copy of the whole model with a fresh, seeded last layer for
  the data's classes, every parameter trained with AdamW on the modified images; batch-norm layers keep their
  running statistics (eval mode), since the mini-batches of a laptop run are too small to re-estimate them;
  dropout is on, drawn from a generator seeded per training seed (repeatable on CPU; CUDA kernels may not be).

Neither adds data augmentation; both take pixels in [0, 1] and map them to the model's input space with
``normalize`` (``ModelWrapper.to_model_space``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.hooks import model_lock
from xai_core.models import ModelError
from xai_core.sanity import digits
from xai_core.sanity.roar import Modified

Normalize = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Training:
    """How a head or a model is trained (resolved ROAR settings)."""

    iterations: int = 200  # L-BFGS iterations of a head
    l2: float = 1e-3  # a head's L2 penalty
    hidden: int = 256  # MLP head width
    epochs: int = 3  # whole model: AdamW epochs
    lr: float = 1e-4
    weight_decay: float = 1e-4
    batch: int = 32


def last_linear(module: nn.Module) -> str:
    """The dotted name of the last ``nn.Linear`` registered in ``module`` (the classifier of common models)."""
    names = [name for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not names or names[-1] == "":
        raise ModelError("the model has no nn.Linear output layer inside it; ROAR's retraining needs one")
    return names[-1]


def _replace(module: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, attr, new)


def _copy(module: nn.Module) -> nn.Module:
    with model_lock(module):  # no other session's transient hook gets copied
        return copy.deepcopy(module)


def split_head(module: nn.Module) -> tuple[nn.Module, nn.Linear, str]:
    """A copy of ``module`` without its last ``nn.Linear`` (an ``Identity`` in its place), that layer, its name."""
    clone = _copy(module)
    name = last_linear(clone)
    head = clone.get_submodule(name)
    assert isinstance(head, nn.Linear)
    _replace(clone, name, nn.Identity())
    return clone.eval(), head, name


def _seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the global RNG state untouched
        torch.manual_seed(seed)
        return make()


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters(), torch.empty(0)).device


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean()) if len(y) else float("nan")


class HeadRetrainer:
    """A fresh head per seed on the frozen backbone's pooled features (see the module notes)."""

    def __init__(self, module: nn.Module, normalize: Normalize, training: Training, kind: str, chunk: int) -> None:
        if kind not in ("linear", "mlp"):
            raise ValueError(f"kind must be 'linear' or 'mlp'; got {kind!r}")
        self.backbone, self.head, self.name = split_head(module)
        self.module, self.normalize, self.training, self.kind, self.chunk = module, normalize, training, kind, chunk
        self.device = _device(module)
        self.checked = False

    def _check(self, x: Tensor) -> None:
        """The model's logits equal its last linear layer applied to the backbone's output."""
        with model_lock(self.module), torch.inference_mode():
            logits = self.module(x)
            features = self.backbone(x)
            again = self.head(features) if features.ndim == 2 else None
        if again is None or again.shape != logits.shape or not torch.allclose(again, logits, rtol=1e-3, atol=1e-3):
            raise ModelError(
                f"the model's last linear layer ({self.name}) is not its output layer applied to pooled features "
                f"(the backbone gives {list(features.shape)}), so a head cannot be retrained on them; use "
                "retrain='full'"
            )
        self.checked = True

    def features(self, data: Modified) -> Tensor:
        """Backbone features ``[N, D]`` (float32, CPU) of the modified images."""
        out = []
        for _part, pixels in data.batches(self.chunk, self.device):
            x = self.normalize(pixels)
            if not self.checked:
                self._check(x)
            with torch.inference_mode():
                out.append(self.backbone(x).float().cpu())
        return torch.cat(out)

    def __call__(self, train: Modified, test: Modified, seeds: Sequence[int]) -> list[float]:
        f_train, f_test = self.features(train), self.features(test)
        mean, std = f_train.mean(dim=0), f_train.std(dim=0).clamp_min(1e-6)
        f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
        classes = int(max(int(train.y.max()), int(test.y.max()))) + 1
        accuracy = []
        for seed in seeds:
            head = self.fit(f_train, train.y, classes, seed)
            with torch.inference_mode():
                accuracy.append(_accuracy(head(f_test), test.y))
        return accuracy

    def fit(self, features: Tensor, y: Tensor, classes: int, seed: int) -> nn.Module:
        """A head fitted to ``features`` by L-BFGS from the seed's initialisation (see the module notes)."""
        t, width = self.training, features.shape[1]
        if self.kind == "linear":
            head = _seeded(seed, lambda: nn.Linear(width, classes))
        else:
            head = _seeded(seed, lambda: nn.Sequential(nn.Linear(width, t.hidden), nn.ReLU(),
                                                       nn.Linear(t.hidden, classes)))  # fmt: skip
        weights = [p for name, p in head.named_parameters() if name.endswith("weight")]
        optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=t.iterations, history_size=20,
                                      tolerance_grad=1e-6, tolerance_change=1e-9,
                                      line_search_fn="strong_wolfe")  # fmt: skip

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(head(features), y) + 0.5 * t.l2 * sum((w * w).sum() for w in weights)
            loss.backward()
            return loss

        with digits.single_thread():  # small dense ops: one thread is faster than two fighting over a busy CPU
            optimizer.step(closure)
        return head.eval()


class FineTuneRetrainer:
    """Per seed, the whole model fine-tuned on the modified images with a fresh last layer (see the module notes)."""

    def __init__(self, module: nn.Module, normalize: Normalize, training: Training, chunk: int) -> None:
        self.base = _copy(module)
        self.name = last_linear(self.base)
        self.normalize, self.training, self.chunk = normalize, training, chunk
        self.device = _device(module)

    def model(self, classes: int, seed: int) -> nn.Module:
        net = copy.deepcopy(self.base)
        old = net.get_submodule(self.name)
        assert isinstance(old, nn.Linear)
        new = _seeded(seed, lambda: nn.Linear(old.in_features, classes, bias=old.bias is not None))
        _replace(net, self.name, new.to(self.device))
        return net

    def __call__(self, train: Modified, test: Modified, seeds: Sequence[int]) -> list[float]:
        classes = int(max(int(train.y.max()), int(test.y.max()))) + 1
        return [self.fit_one(train, test, classes, seed) for seed in seeds]

    def fit_one(self, train: Modified, test: Modified, classes: int, seed: int) -> float:
        t = self.training
        net = self.model(classes, seed)
        optimizer = torch.optim.AdamW(net.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        generator = torch.Generator().manual_seed(seed)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)  # dropout draws
            net.train()
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            for _epoch in range(t.epochs):
                order = torch.randperm(len(train), generator=generator)
                for start in range(0, len(train), t.batch):
                    batch = order[start : start + t.batch]
                    x = self.normalize(train.take(batch, self.device))
                    loss = F.cross_entropy(net(x), train.y[batch].to(self.device))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
        net.eval()
        correct = 0
        with torch.inference_mode():
            for part, pixels in test.batches(self.chunk, self.device):
                correct += int((net(self.normalize(pixels)).argmax(dim=1).cpu() == test.y[part]).sum())
        return correct / max(1, len(test))
