"""DeepLIFT's function mode: a batch ``[x; x']`` whose backward pass carries multipliers (the Rescale rule).

The machinery shared with LRP is in ``_rules``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xai_core.hooks import HookError
from xai_core.hooks._rules import (
    ADDS,
    AVG_POOLS,
    CONVS,
    MAX_POOLS,
    OUT_OF_PLACE,
    RESCALED,
    SCALES,
    STRUCTURAL,
    PathMode,
    Rule,
    bind,
    clamp_bounds,
    differentiable,
    missing_error,
)

# Linear ops, whose gradient is already the multiplier (Shrikumar et al. 2017, sec. 3.5.1).
LINEAR_OPS = STRUCTURAL | CONVS | AVG_POOLS | {"linear", "batch_norm", "neg", "__rsub__"} | set(ADDS)


def _halves(t: Tensor) -> Tensor:
    """``[x; x']`` (batch ``2B``) as ``[2, B, ...]``: the input half and the reference half."""
    return t.unflatten(0, (2, -1))


def _multiplier(grad: Tensor, d_in: Tensor, d_out: Tensor, eps: float, plain: Any) -> Tensor:
    """Captum's ``nonlinear``: grad * d_out / d_in for both halves; ``plain()`` (the gradient) where |d_in| < eps."""
    scaled = (_halves(grad) * (d_out / d_in)).flatten(0, 1)
    small = d_in.abs() < eps
    if not bool(small.any()):  # the usual case: no unit with the same input for image and reference
        return scaled
    return torch.where(small.unsqueeze(0).expand_as(_halves(grad)).flatten(0, 1), plain(), scaled)


def _plain_gradient(func: Any, pre: Tensor, grad: Tensor) -> Tensor:
    with torch.enable_grad():
        probe = pre.detach().requires_grad_(True)
        return torch.autograd.grad(func(probe), probe, grad)[0]


class _RescaleMode(PathMode):
    def __init__(self, inputs: Tensor, eps: float) -> None:
        super().__init__(inputs)
        self.eps = eps

    def dispatch(self, name: str, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if name in RESCALED:
            base = OUT_OF_PLACE.get(name, func)
            options = {k: v for k, v in kwargs.items() if k != "inplace"}
            backward = self._rescale(base, args, options, clamp_bounds(name, args, kwargs))
            return Rule.apply(lambda t: base(t, *args[1:], **options), backward, args[0])
        if name in MAX_POOLS and not kwargs.get("return_indices"):
            return self._max_pool(name, args, kwargs)
        if name == "batch_norm" and bind(("input", "running_mean", "running_var", "weight", "bias", "training"),
                                         args, kwargs).get("training"):  # fmt: skip
            raise HookError("DeepLIFT needs batch norm in eval mode: batch statistics would mix input and reference")
        out = func(*args, **kwargs)
        if name in SCALES and (self.on_path(args[1:]) or self.on_path(list(kwargs.values()))):
            self.missing[f"{name} of two activations"] += 1  # x * y, x / y: neither linear nor elementwise
        elif name not in LINEAR_OPS and name not in SCALES and differentiable(out):
            self.missing[name] += 1
        return out

    def _rescale(
        self, base: Any, args: Sequence[Any], options: dict[str, Any], bounds: tuple[float, float] | None
    ) -> Any:
        """The Rescale rule: m = (y - y') / (x - x') for image and reference alike, as Captum's ``nonlinear``."""
        eps = self.eps

        def backward(grad: Tensor, inputs: Sequence[Tensor], out: Tensor) -> tuple[Tensor]:
            pre, post = _halves(inputs[0]), _halves(out)

            def plain() -> Tensor:  # the activation's own gradient: ATen's kernel for the clamps, autograd otherwise
                if bounds is not None:
                    return torch.ops.aten.hardtanh_backward(grad, inputs[0], *bounds)
                return _plain_gradient(lambda t: base(t, *args[1:], **options), inputs[0], grad)

            return (_multiplier(grad, pre[0] - pre[1], post[0] - post[1], eps, plain),)

        return backward

    def _max_pool(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
        """Captum's ``maxpool`` rule: unpool grad * delta_out at the argmax of input and reference, / delta_in."""
        bound = bind(("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"), args, kwargs)
        pool, unpool = getattr(F, name), getattr(F, name.replace("pool", "unpool"))
        geometry = [bound.get(k, d) for k, d in (("kernel_size", 1), ("stride", None), ("padding", 0),
                                                  ("dilation", 1), ("ceil_mode", False))]  # fmt: skip
        eps = self.eps

        def backward(grad: Tensor, inputs: Sequence[Tensor], out: Tensor) -> tuple[Tensor]:
            pre, (top, ref) = inputs[0], _halves(out)
            highest = torch.max(top, ref)
            d_out = torch.cat([highest - ref, top - highest])
            _, where = pool(pre, *geometry, return_indices=True)
            spread = _halves(unpool(grad * d_out, where, *geometry[:3], output_size=pre.shape)).sum(0)
            d_in = _halves(pre)[0] - _halves(pre)[1]
            small = d_in.abs() < eps
            scaled = (spread / d_in).expand(2, *spread.shape).flatten(0, 1)
            if not bool(small.any()):
                return (scaled,)
            plain = _plain_gradient(lambda t: pool(t, *geometry), pre, grad)
            return (torch.where(small.expand(2, *small.shape).flatten(0, 1), plain, scaled),)

        return Rule.apply(lambda t: pool(t, *geometry), backward, bound["input"])


@contextmanager
def rescale_rule(inputs: Tensor, eps: float = 1e-10, method: str = "deeplift") -> Iterator[None]:
    """Forwards of a batch ``inputs = [x; x']`` inside this block backpropagate DeepLIFT multipliers.

    Each elementwise activation (ReLU, ReLU6/hardtanh, leaky ReLU, ELU, sigmoid, tanh, softplus) passes
    ``grad * (y - y') / (x - x')`` (the Rescale rule), max pooling Captum's maxpool rule, linear ops their gradient
    (which is their multiplier). ``eps`` is Captum's: below it the plain gradient stands in. An op on the input's
    path that is neither raises ``HookError`` after the block, naming it.
    """
    mode = _RescaleMode(inputs, eps)
    with mode:
        yield
    if mode.missing:
        raise missing_error(method, mode.missing, "rule (Rescale multiplier or linear map)")
