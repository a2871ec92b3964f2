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

Output = Literal["logit", "probability"]
OUTPUTS: tuple[str, ...] = ("logit", "probability")


@dataclass(frozen=True)
class Target:
    """Class index per sample (``[B]`` long tensor) and which scalar of it is explained."""

    classes: Tensor
    output: Output = "logit"

    def __call__(self, outputs: Tensor) -> Tensor:
        if outputs.ndim != 2:
            raise ValueError(f"model output must be [batch, classes]; got shape {tuple(outputs.shape)}")
        if outputs.shape[0] != self.classes.shape[0]:
            raise ValueError(f"target has {self.classes.shape[0]} entries for a batch of {outputs.shape[0]}")
        if int(self.classes.max()) >= outputs.shape[1]:
            raise ValueError(f"target classes must lie in [0, {outputs.shape[1] - 1}]; got {self.classes.tolist()}")
        scores = outputs.log_softmax(dim=1).exp() if self.output == "probability" else outputs
        return scores.gather(1, self.classes.to(outputs.device).view(-1, 1)).squeeze(1)

    def repeat(self, times: int) -> Target:
        """The target of a batch laid out as ``times`` copies of this one, ``[times * B]``."""
        return Target(self.classes.repeat(times), self.output)

    def take(self, index: slice) -> Target:
        return Target(self.classes[index], self.output)


def resolve_target(
    target: int | Sequence[int] | Tensor | None,
    batch: int,
    predicted: Tensor | None,
    output: str = "logit",
) -> Target:
    """Turn the user's ``target`` into a ``Target``; ``None`` means the predicted class of each sample."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}; got {output!r}")
    if target is None:
        if predicted is None:
            raise ValueError("target=None needs the model's prediction")
        classes = predicted.detach().long().view(-1).cpu()
    elif isinstance(target, int):
        classes = torch.full((batch,), int(target), dtype=torch.long)
    else:
        classes = torch.as_tensor(target, dtype=torch.long).view(-1).cpu()
        if classes.numel() == 1:
            classes = classes.expand(batch).clone()
    if classes.numel() != batch:
        raise ValueError(f"target must give one class per sample: {batch} samples, {classes.numel()} targets")
    if int(classes.min()) < 0:
        raise ValueError(f"target classes must be non-negative; got {classes.tolist()}")
    return Target(classes, output)  # type: ignore[arg-type]
