"""The LRP function mode: relevance handed down layer by layer, every op on the input's path by its rule.

Affine layers (convolutions, linear layers, batch norm folded into the layer it follows) get the rule a composite
chooses for them (``AffineCall``); ReLU/ReLU6 pass relevance, sums and average pools split it in proportion, max
pooling routes it to the maximum. The machinery shared with DeepLIFT is in ``_rules``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from xai_core.hooks import HookError
from xai_core.hooks._rules import (
    ADDS,
    AVG_POOLS,
    CONVS,
    MAX_POOLS,
    OUT_OF_PLACE,
    STRUCTURAL,
    PathMode,
    Rule,
    bind,
    clamp_bounds,
    differentiable,
    missing_error,
)

STABILIZER = 1e-6  # zennit's stabilizer for the sum, pooling and non-epsilon rules


def stabilize(z: Tensor, eps: float) -> Tensor:
    """``z + eps * sign(z)`` with sign(0) = +1 (zennit's and Captum's stabilizer): no division by zero."""
    return (z - eps).add_(z >= 0, alpha=2 * eps)  # one pass fewer than torch.where(z >= 0, z + eps, z - eps)


@dataclass(frozen=True)
class AffineCall:
    """One affine layer call as an LRP rule sees it: ``output = forward(inputs, weight, bias)``.

    A convolution or a linear layer (an eval-mode batch norm that consumes its output folded into ``weight`` and
    ``bias``, as zennit's canonizers do), or a batch norm on its own (``kind="batch_norm"``, a per-channel scale).
    ``transpose(weight, s)`` is ``W^T s``, shaped like ``inputs``. ``mask`` is 0 on the zero padding an ``F.pad``
    added just before the call (timm's ``Conv2dSame``) and 1 elsewhere (None: no such padding): the flat and z-box
    rules need it to see the padding as zennit's module-level rules do.
    """

    kind: str  # "conv", "linear" or "batch_norm"
    first: bool  # the first convolution or linear layer of the forward pass
    inputs: Tensor
    output: Tensor
    weight: Tensor
    bias: Tensor | None
    mask: Tensor | None
    forward: Any  # (inputs, weight, bias) -> output
    transpose: Any  # (weight, s) -> W^T s


@dataclass
class RelevanceStats:
    """What the relevance mode met: affine layers, folded batch norms, and ReLU6 inputs beyond the clip."""

    layers: int = 0
    folded: int = 0
    activations: int = 0  # activation inputs seen (elements)
    clipped: int = 0  # elements above a ReLU6/hardtanh upper bound: there LRP passes relevance the gradient blocks


def _conv_ops(name: str, x: Tensor, bound: dict[str, Any]) -> tuple[Any, Any]:
    conv, dims = getattr(F, name), x.ndim - 2
    stride, padding, dilation, groups = (bound.get(k, d) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1),
                                                                         ("groups", 1)))  # fmt: skip

    def forward(t: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return conv(t, w, b, stride, padding, dilation, groups)

    def transpose(w: Tensor, s: Tensor) -> Tensor:
        if isinstance(padding, str):  # "same"/"valid": differentiate a forward at zero (the map is linear)
            with torch.enable_grad():
                probe = torch.zeros_like(x).requires_grad_(True)
                return torch.autograd.grad(forward(probe, w, None), probe, s)[0]
        # torch.nn.grad.conv2d_input with the real input as the layout template: an expanded empty one would be
        # materialised by the CPU kernel at every call.
        n = [(v if isinstance(v, (list, tuple)) else [v] * dims) for v in (stride, padding, dilation)]
        grads = torch.ops.aten.convolution_backward(s, x, w, None, *n, False, [0] * dims, groups, (True, False, False))
        return grads[0]

    return forward, transpose


class _RelevanceMode(PathMode):
    def __init__(self, inputs: Tensor, rule_for: Any, stabilizer: float, clip_stats: bool) -> None:
        super().__init__(inputs)
        self.rule_for, self.stabilizer, self.clip_stats = rule_for, stabilizer, clip_stats
        self.stats = RelevanceStats()
        self._produced: dict[int, tuple[Tensor, AffineCall]] = {}  # conv/linear outputs, for batch-norm folding
        self._masks: dict[int, tuple[Tensor, Tensor]] = {}  # zero-padded inputs before the first layer

    def dispatch(self, name: str, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if name in CONVS or name == "linear":
            return self._affine(name, args, kwargs)
        if name == "batch_norm":
            return self._batch_norm(args, kwargs)
        bounds = clamp_bounds(name, args, kwargs)
        if bounds is not None and bounds[0] == 0.0:  # ReLU, ReLU6: relevance passes unchanged (zennit's Pass rule)
            x = args[0]
            if self.clip_stats:
                self.stats.activations += x.numel()
                self.stats.clipped += int((x > bounds[1]).sum())
            base = OUT_OF_PLACE.get(name, func)  # forward through the function itself: an outer mode may swap it
            options = {k: v for k, v in kwargs.items() if k != "inplace"}
            return Rule.apply(lambda t: base(t, *args[1:], **options), lambda g, _i, _o: (g,), x)
        if name in ADDS or name == "__rsub__":
            return self._sum(func, name, args, kwargs)
        if name in AVG_POOLS:  # zennit's Norm rule: R_i = x_i * d z / d x_i * R / z for a sum-pooling z
            backward = self._norm(func, args[1:], kwargs, self.stabilizer)
            return Rule.apply(lambda t: func(t, *args[1:], **kwargs), backward, args[0])
        out = func(*args, **kwargs)
        if (
            name == "pad"
            and self.stats.layers == 0
            and float(bind(("input", "pad", "mode", "value"), args, kwargs).get("value") or 0.0) == 0.0
        ):
            mask = self.mask_of(args[0])
            ones = mask if mask is not None else torch.ones_like(args[0], requires_grad=False)
            self._masks[id(out)] = (out, func(ones, *args[1:], **kwargs))
        elif name not in STRUCTURAL and name not in MAX_POOLS and differentiable(out):  # max pool: winner takes all
            self.missing[name] += 1
        return out

    def mask_of(self, x: Tensor) -> Tensor | None:
        entry = self._masks.get(id(x))
        return entry[1] if entry is not None and entry[0] is x else None

    def _apply(self, call: AffineCall, compute: Any) -> Tensor:
        rule = self.rule_for(call.kind, call.first)

        def backward(grad: Tensor, inputs: Sequence[Tensor], output: Tensor) -> tuple[Tensor]:
            return (rule(replace(call, inputs=inputs[0], output=output), grad),)

        return Rule.apply(compute, backward, call.inputs)

    def _affine(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
        bound = bind(("input", "weight", "bias", "stride", "padding", "dilation", "groups"), args, kwargs)
        x, weight, bias = bound["input"], bound["weight"].detach(), bound.get("bias")
        bias = bias.detach() if bias is not None else None
        if name == "linear":
            forward, transpose = F.linear, (lambda w, s: s @ w)
        else:
            forward, transpose = _conv_ops(name, x.detach(), bound)
        call = AffineCall("linear" if name == "linear" else "conv", self.stats.layers == 0, x, x, weight, bias,
                          self.mask_of(x), forward, transpose)  # fmt: skip
        self.stats.layers += 1
        out = self._apply(call, lambda t: forward(t, weight, bias))
        self._produced[id(out)] = (out, call)
        return out

    def _batch_norm(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
        names = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")
        bound = bind(names, args, kwargs)
        x, mean, var = bound["input"], bound["running_mean"], bound["running_var"]
        if bound.get("training") or mean is None:
            raise HookError("LRP needs batch norm in eval mode: its batch statistics are no fixed affine map")
        gamma, beta, eps = bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
        scale = (gamma.detach() if gamma is not None else torch.ones_like(mean)) / torch.sqrt(var + eps)
        shift = (beta.detach() if beta is not None else torch.zeros_like(mean)) - mean * scale

        def norm(t: Tensor) -> Tensor:
            return F.batch_norm(t, mean, var, gamma, beta, False, 0.0, eps)

        entry = self._produced.get(id(x))
        if entry is not None and entry[0] is x:  # y = s (W x + b - mu) + beta: one affine layer W', b'
            conv = entry[1]
            view = (-1,) + (1,) * (conv.weight.ndim - 1)
            bias = (conv.bias * scale if conv.bias is not None else 0.0) + shift
            folded = replace(conv, weight=conv.weight * scale.view(view), bias=bias)
            self.stats.folded += 1
            value = x.detach()  # the convolution's output, computed already: the folded layer's forward reuses it
            return self._apply(folded, lambda _t: norm(value))
        shape = (1, -1) + (1,) * (x.ndim - 2)

        def diagonal(t: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
            return t * w.view(shape) + (b.view(shape) if b is not None else 0.0)

        call = AffineCall("batch_norm", False, x, x, scale, shift, self.mask_of(x), diagonal,
                          lambda w, s: s * w.view(shape))  # fmt: skip
        return self._apply(call, norm)

    def _sum(self, func: Any, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
        """z = a + c b: R_a = a R / z, R_b = c b R / z (zennit's Norm rule on its ``Sum``); a constant is a bias."""
        a, b = args[0], args[1] if len(args) > 1 else kwargs["other"]
        c = float(kwargs.get("alpha", 1.0)) * ADDS.get(name, 1.0)
        coefficients = (-1.0, 1.0) if name == "__rsub__" else (1.0, c)
        inputs = [t for t in (a, b) if isinstance(t, Tensor)]

        def compute(*tensors: Tensor) -> Tensor:
            given = iter(tensors)
            operands = [next(given) if isinstance(t, Tensor) else t for t in (a, b)]
            return coefficients[0] * operands[0] + coefficients[1] * operands[1]

        weights = [k for k, t in zip(coefficients, (a, b), strict=True) if isinstance(t, Tensor)]
        eps = self.stabilizer  # closures hold values, not the mode (whose path keeps every activation alive)

        def backward(grad: Tensor, saved: Sequence[Tensor], out: Tensor) -> tuple[Tensor, ...]:
            s = grad / stabilize(out, eps)
            return tuple((k * t * s).sum_to_size(t.shape) for k, t in zip(weights, saved, strict=True))

        return Rule.apply(compute, backward, *inputs)

    @staticmethod
    def _norm(func: Any, rest: Sequence[Any], kwargs: dict[str, Any], eps: float) -> Any:
        def backward(grad: Tensor, inputs: Sequence[Tensor], out: Tensor) -> tuple[Tensor]:
            with torch.enable_grad():  # the pool is linear: its transpose is the gradient of a forward
                probe = inputs[0].detach().requires_grad_(True)
                (g,) = torch.autograd.grad(func(probe, *rest, **kwargs), probe, grad / stabilize(out, eps))
            return (inputs[0] * g,)

        return backward


@contextmanager
def relevance_rules(
    inputs: Tensor, rule_for: Any, *, stabilizer: float = STABILIZER, method: str = "lrp", clip_stats: bool = False
) -> Iterator[RelevanceStats]:
    """Run forwards of ``inputs`` inside this block so that their backward pass propagates relevance (LRP).

    ``rule_for(kind, first)`` returns the rule of an affine layer: a callable ``(AffineCall, R_out) -> R_in``.
    ReLU/ReLU6 pass relevance unchanged, additions and average pools split it in proportion to their inputs
    (zennit's ``Norm``, stabilised by ``stabilizer``), max pooling routes it to the maximum. An op on the input's
    path without a rule raises ``HookError`` after the block, naming it. Thread-local, like the other modes; the
    model is not touched. ``clip_stats`` counts the activation inputs above a ReLU6 clip (off by default: it costs
    a comparison per activation).
    """
    mode = _RelevanceMode(inputs, rule_for, stabilizer, clip_stats)
    with mode:
        yield mode.stats
    if mode.missing:
        raise missing_error(method, mode.missing, "relevance rule")


class _UnclippedMode(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        bounds = clamp_bounds(getattr(func, "__name__", ""), args, kwargs)
        if bounds is not None and bounds[0] == 0.0 and bounds[1] < math.inf:
            return F.relu(args[0])
        return func(*args, **kwargs)


def relu_for_relu6() -> TorchFunctionMode:
    """A mode: ReLU6 (``hardtanh(x, 0, hi)``) runs as ReLU, i.e. the same weights without the clip. Thread-local."""
    return _UnclippedMode()
