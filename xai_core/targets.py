"""Targets: the scalar per sample that every method backpropagates and every metric scores.

``Target(classes, output)`` maps model outputs ``[B, K]`` to ``[B]``: the logit of class ``c`` or its softmax
probability. Methods that expand a batch (noise samples, path points) repeat the target with ``repeat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from xai_core.params import ParameterError

Output = Literal["logit", "probability"]
OUTPUTS: tuple[str, ...] = ("logit", "probability")


@dataclass(frozen=True)
class Target:
    """Class index per sample (``[B]`` long tensor) and which scalar of it is explained."""

    classes: Tensor
    output: Output = "logit"

    def __call__(self, outputs: Tensor) -> Tensor:
        if outputs.ndim != 2:
            raise ParameterError(
                f"model output must be [batch, classes]; got shape {tuple(outputs.shape)} "
                "(a model with one score per sample should return [batch, 1] and be explained with target=0)"
            )
        if outputs.shape[0] != self.classes.shape[0]:
            raise ParameterError(f"target has {self.classes.shape[0]} entries for a batch of {outputs.shape[0]}")
        if int(self.classes.max()) >= outputs.shape[1]:
            raise ParameterError(f"target classes must lie in [0, {outputs.shape[1] - 1}]; got {self.classes.tolist()}")
        scores = outputs.log_softmax(dim=1).exp() if self.output == "probability" else outputs
        return scores.gather(1, self.classes.to(outputs.device).view(-1, 1)).squeeze(1)

    def repeat(self, times: int) -> Target:
        """The target of a batch laid out as ``times`` copies of this one, ``[times * B]``."""
        return Target(self.classes.repeat(times), self.output)

    def take(self, index: slice) -> Target:
        return Target(self.classes[index], self.output)


def _classes(target: int | Sequence[int] | Tensor) -> Tensor:
    """Class indices as a long tensor ``[N]``; anything but whole numbers is a ``ParameterError``."""
    if isinstance(target, bool):
        raise ParameterError(f"target must be a class index (an integer), a sequence of them or None; got {target!r}")
    try:
        values = torch.as_tensor(target, dtype=torch.float64).reshape(-1).cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ParameterError(
            f"target must be a class index (an integer), a sequence of them or None; got {target!r}"
        ) from None
    if values.numel() == 0 or not bool(torch.isfinite(values).all()) or not bool((values == values.round()).all()):
        raise ParameterError(f"target must hold whole class indices; got {target!r}")
    if bool((values.abs() > 2**62).any()):
        raise ParameterError(f"target class indices are out of range; got {target!r}")
    return values.long()


def resolve_target(
    target: int | Sequence[int] | Tensor | None,
    batch: int,
    predicted: Tensor | None,
    output: str = "logit",
) -> Target:
    """Turn the user's ``target`` into a ``Target``; ``None`` means the predicted class of each sample."""
    if output not in OUTPUTS:
        raise ParameterError(f"output must be one of {list(OUTPUTS)}; got {output!r}")
    if target is None:
        if predicted is None:
            raise ParameterError("target=None needs the model's prediction")
        classes = predicted.detach().long().view(-1).cpu()
    else:
        classes = _classes(target)
        if classes.numel() == 1:
            classes = classes.expand(batch).clone()
    if classes.numel() != batch:
        raise ParameterError(f"target must give one class per sample: {batch} samples, {classes.numel()} targets")
    if int(classes.min()) < 0:
        raise ParameterError(f"target classes must be non-negative; got {classes.tolist()}")
    return Target(classes, output)  # type: ignore[arg-type]
