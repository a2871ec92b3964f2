"""RectGrad's padding trick: a function mode that passes no gradient through the border of zero-padded convolutions.

Used with ``activation_rule("rectgrad")`` by ``methods/rectgrad.py``; see ``padding_trick``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

PADDING_TRICK = ("padded", "all", "off")


class _ZeroBorderGrad(torch.autograd.Function):
    """Identity forward (a copy, so an in-place activation after it is allowed); the backward zeroes the incoming
    gradient on the one-unit border ring of the feature map, as ``conv2d_grad_override`` of 1202kbs/Rectified-Gradient
    (``grad * pad(ones([N, H - 2, W - 2, C]), 1)``). An axis of size 2 or less is left alone (there the ring would be
    the whole map, and TensorFlow's mask ``ones(H - 2)`` fails or zeroes everything)."""

    @staticmethod
    def forward(ctx: Any, out: Tensor) -> Tensor:
        return out.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.clone()
        if grad.shape[-2] > 2:
            grad[..., 0, :] = 0.0
            grad[..., -1, :] = 0.0
        if grad.shape[-1] > 2:
            grad[..., :, 0] = 0.0
            grad[..., :, -1] = 0.0
        return grad


def _zero_padding(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """``F.pad`` with zeros on a spatial side (timm's ``Conv2dSame`` pads this way before a padding-free conv)."""
    pad = kwargs.get("pad", args[1] if len(args) > 1 else ())
    mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
    value = kwargs.get("value", args[3] if len(args) > 3 else None)
    return mode == "constant" and not value and any(p > 0 for p in tuple(pad)[:4])


def _pads(padding: Any, weight: Tensor) -> bool:
    """A conv2d ``padding`` argument that adds zeros: a positive int or tuple, or ``"same"`` with a kernel above 1."""
    if isinstance(padding, str):
        return padding == "same" and any(k > 1 for k in weight.shape[2:])
    return any(int(p) > 0 for p in (padding if isinstance(padding, Sequence) else (padding,)))


class _PaddingTrickMode(TorchFunctionMode):
    def __init__(self, every_conv: bool) -> None:
        super().__init__()
        self.every_conv, self.masked = every_conv, 0
        self._padded: dict[int, weakref.ref[Tensor]] = {}  # outputs of zero F.pad, by id (tensors compare by value)

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is F.pad and _zero_padding(args, kwargs):
            self._padded[id(out)] = weakref.ref(out)
        elif func is F.conv2d and isinstance(out, Tensor) and out.ndim >= 3:
            x = kwargs.get("input", args[0] if args else None)
            weight = kwargs.get("weight", args[1] if len(args) > 1 else None)
            padding = kwargs.get("padding", args[4] if len(args) > 4 else 0)
            ref = self._padded.get(id(x))
            if self.every_conv or _pads(padding, weight) or (ref is not None and ref() is x):
                self.masked += 1
                return _ZeroBorderGrad.apply(out)
        return out


@contextmanager
def padding_trick(mode: str = "padded") -> Iterator[_PaddingTrickMode]:
    """Forwards inside this block pass no gradient through the one-unit border of convolution outputs.

    RectGrad's "padding trick" (Kim et al. 2019; ``RectifiedGradient.conv2d_grad_override`` in
    1202kbs/Rectified-Gradient ``deepexplain/tensorflow/methods.py``): for every TensorFlow ``Conv2D`` with
    ``padding='SAME'`` the gradient reaching the output's border ring is zeroed before it is propagated, which
    removes the bright frame zero padding leaves in the maps. PyTorch records no SAME/VALID flag, so ``"padded"``
    masks the convolutions that read zeros: an explicit ``padding`` > 0 (or ``"same"`` with a kernel above 1x1), or
    an input that came from a zero ``F.pad`` (timm's ``Conv2dSame``). That is every SAME convolution with a kernel
    above 1x1; TensorFlow also masks a 1x1 convolution declared SAME, which reads no padding: ``"all"`` masks every
    convolution, the authors' behaviour on a model built with SAME throughout (EfficientNet-Lite, their CIFAR CNN).
    The mode's ``masked`` counts the convolutions it masked.
    """
    if mode not in PADDING_TRICK:
        raise ValueError(f"padding trick must be one of {PADDING_TRICK}; got {mode!r}")
    active = _PaddingTrickMode(every_conv=mode == "all")
    if mode == "off":
        yield active
        return
    with active:
        yield active
