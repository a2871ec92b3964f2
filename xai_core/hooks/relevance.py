"""Function modes for LRP and DeepLIFT: the backward pass of every op on the input's path replaced by a rule.

Both run the model inside a ``TorchFunctionMode`` that swaps each op on the input's path for a ``_Rule`` node: its
forward is the op itself, its backward the method's rule. Nothing is registered on the model and the mode stack is
thread-local, so concurrent sessions sharing a cached model do not see each other's rules. An op neither rule set
knows (SiLU, GELU, a product of two activations as in attention or squeeze-excitation, layer norm, ...) is
collected and refused with ``HookError`` after the forward pass: never a silent plain gradient.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from xai_core.hooks import HookError

STABILIZER = 1e-6  # zennit's stabilizer for the sum, pooling and non-epsilon rules
_RELU_FAMILY = {"relu", "relu_", "relu6", "hardtanh", "hardtanh_"}
_CONVS = {"conv1d", "conv2d", "conv3d"}
_ADDS = {"add": 1.0, "add_": 1.0, "sub": -1.0, "sub_": -1.0}  # sign of the second operand; "__rsub__" is b - a
_SCALES = {"mul", "mul_", "div", "div_"}  # linear when one operand is a constant
_AVG_POOLS = {"avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
              "adaptive_avg_pool3d", "mean", "sum"}  # fmt: skip
_MAX_POOLS = {"max_pool1d", "max_pool2d", "max_pool3d"}
# Ops that only move, copy, pad or drop (in eval mode) values: the plain backward routes relevance exactly.
_STRUCTURAL = {
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "t", "contiguous",
    "clone", "squeeze", "unsqueeze", "expand", "expand_as", "__getitem__", "cat", "concat", "concatenate", "stack",
    "split", "chunk", "unbind", "narrow", "select", "movedim", "pad", "dropout", "dropout1d", "dropout2d",
    "dropout3d", "alpha_dropout", "feature_alpha_dropout", "to", "float", "double", "type_as",
}  # fmt: skip
# DeepLIFT: elementwise monotone activations that get the Rescale multiplier (Captum's set, plus ReLU6/hardtanh).
_RESCALED = _RELU_FAMILY | {"leaky_relu", "leaky_relu_", "elu", "elu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
                            "softplus"}  # fmt: skip
_OUT_OF_PLACE: dict[str, Any] = {"relu_": torch.relu, "hardtanh_": F.hardtanh, "leaky_relu_": F.leaky_relu,
                                 "elu_": F.elu, "sigmoid_": torch.sigmoid, "tanh_": torch.tanh}  # fmt: skip
# DeepLIFT: linear ops, whose gradient is already the multiplier (Shrikumar et al. 2017, sec. 3.5.1).
_LINEAR = _STRUCTURAL | _CONVS | _AVG_POOLS | {"linear", "batch_norm", "neg", "__rsub__"} | set(_ADDS)


def stabilize(z: Tensor, eps: float) -> Tensor:
    """``z + eps * sign(z)`` with sign(0) = +1 (zennit's and Captum's stabilizer): no division by zero."""
    return (z - eps).add_(z >= 0, alpha=2 * eps)  # one pass fewer than torch.where(z >= 0, z + eps, z - eps)


class _Rule(torch.autograd.Function):
    """``forward(*inputs)`` in the forward pass; ``rule(grad, inputs, output)`` (one gradient per input) backward."""

    @staticmethod
    def forward(ctx: Any, forward: Any, rule: Any, *inputs: Tensor) -> Tensor:
        output = forward(*inputs)
        ctx.rule = rule
        ctx.save_for_backward(*inputs, output)
        return output

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        *inputs, output = ctx.saved_tensors
        return (None, None, *ctx.rule(grad, inputs, output))


def _bind(names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(names, args, strict=False)) | kwargs


def _clamp_bounds(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high) of a ReLU (0, inf), ReLU6 (0, 6) or hardtanh call; None for any other op."""
    if name in ("relu", "relu_"):
        return 0.0, math.inf
    if name == "relu6":
        return 0.0, 6.0
    if name in ("hardtanh", "hardtanh_"):
        bound = _bind(("input", "min_val", "max_val"), args, kwargs)
        return float(bound.get("min_val", -1.0)), float(bound.get("max_val", 1.0))
    return None


def _differentiable(out: Any) -> bool:
    """Whether an op's result carries gradient (a tensor, or a tuple of them, that requires grad)."""
    results = out if isinstance(out, (list, tuple)) else (out,)
    return any(isinstance(r, Tensor) and r.requires_grad for r in results)


class _PathMode(TorchFunctionMode):
    """A function mode that applies ``dispatch`` to the ops on the path from ``inputs``, and runs the rest as is.

    The path is tracked by identity from ``inputs`` through every result, so computations on parameters alone
    (weight standardisation, weight norm) never need a rule; ``missing`` counts the ops on the path without one.
    """

    def __init__(self, inputs: Tensor) -> None:
        super().__init__()
        self.path: dict[int, Tensor] = {id(inputs): inputs}  # the tensors are kept so that an id is not reused
        self.missing: Counter[str] = Counter()

    def on_path(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return any(self.on_path(v) for v in value)
        return isinstance(value, Tensor) and self.path.get(id(value)) is value

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if not (any(self.on_path(a) for a in args) or any(self.on_path(v) for v in kwargs.values())):
            return func(*args, **kwargs)
        out = self.dispatch(getattr(func, "__name__", ""), func, args, kwargs)
        for result in out if isinstance(out, (list, tuple)) else (out,):
            if isinstance(result, Tensor):
                self.path[id(result)] = result
        return out

    def dispatch(self, name: str, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError


def _missing_error(who: str, missing: Counter[str], what: str) -> HookError:
    found = ", ".join(f"{name} (x{count})" for name, count in sorted(missing.items()))
    return HookError(
        f"{who} has no {what} for {found} in this model; a plain gradient there would silently change the method. "
        "Pick a model built from convolutions, linear layers, batch norm, ReLU/ReLU6, pooling and additions."
    )


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


class _RelevanceMode(_PathMode):
    def __init__(self, inputs: Tensor, rule_for: Any, stabilizer: float, clip_stats: bool) -> None:
        super().__init__(inputs)
        self.rule_for, self.stabilizer, self.clip_stats = rule_for, stabilizer, clip_stats
        self.stats = RelevanceStats()
        self._produced: dict[int, tuple[Tensor, AffineCall]] = {}  # conv/linear outputs, for batch-norm folding
        self._masks: dict[int, tuple[Tensor, Tensor]] = {}  # zero-padded inputs before the first layer

    def dispatch(self, name: str, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if name in _CONVS or name == "linear":
            return self._affine(name, args, kwargs)
        if name == "batch_norm":
            return self._batch_norm(args, kwargs)
        bounds = _clamp_bounds(name, args, kwargs)
        if bounds is not None and bounds[0] == 0.0:  # ReLU, ReLU6: relevance passes unchanged (zennit's Pass rule)
            x = args[0]
            if self.clip_stats:
                self.stats.activations += x.numel()
                self.stats.clipped += int((x > bounds[1]).sum())
            base = _OUT_OF_PLACE.get(name, func)  # forward through the function itself: an outer mode may swap it
            options = {k: v for k, v in kwargs.items() if k != "inplace"}
            return _Rule.apply(lambda t: base(t, *args[1:], **options), lambda g, _i, _o: (g,), x)
        if name in _ADDS or name == "__rsub__":
            return self._sum(func, name, args, kwargs)
        if name in _AVG_POOLS:  # zennit's Norm rule: R_i = x_i * d z / d x_i * R / z for a sum-pooling z
            backward = self._norm(func, args[1:], kwargs, self.stabilizer)
            return _Rule.apply(lambda t: func(t, *args[1:], **kwargs), backward, args[0])
        out = func(*args, **kwargs)
        if (
            name == "pad"
            and self.stats.layers == 0
            and float(_bind(("input", "pad", "mode", "value"), args, kwargs).get("value") or 0.0) == 0.0
        ):
            mask = self.mask_of(args[0])
            ones = mask if mask is not None else torch.ones_like(args[0], requires_grad=False)
            self._masks[id(out)] = (out, func(ones, *args[1:], **kwargs))
        elif name not in _STRUCTURAL and name not in _MAX_POOLS and _differentiable(out):  # max pool: winner takes all
            self.missing[name] += 1
        return out

    def mask_of(self, x: Tensor) -> Tensor | None:
        entry = self._masks.get(id(x))
        return entry[1] if entry is not None and entry[0] is x else None

    def _apply(self, call: AffineCall, compute: Any) -> Tensor:
        rule = self.rule_for(call.kind, call.first)

        def backward(grad: Tensor, inputs: Sequence[Tensor], output: Tensor) -> tuple[Tensor]:
            return (rule(replace(call, inputs=inputs[0], output=output), grad),)

        return _Rule.apply(compute, backward, call.inputs)

    def _affine(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
        bound = _bind(("input", "weight", "bias", "stride", "padding", "dilation", "groups"), args, kwargs)
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
        bound = _bind(names, args, kwargs)
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
        c = float(kwargs.get("alpha", 1.0)) * _ADDS.get(name, 1.0)
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

        return _Rule.apply(compute, backward, *inputs)

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
        raise _missing_error(method, mode.missing, "relevance rule")


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


class _RescaleMode(_PathMode):
    def __init__(self, inputs: Tensor, eps: float) -> None:
        super().__init__(inputs)
        self.eps = eps

    def dispatch(self, name: str, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if name in _RESCALED:
            base = _OUT_OF_PLACE.get(name, func)
            options = {k: v for k, v in kwargs.items() if k != "inplace"}
            backward = self._rescale(base, args, options, _clamp_bounds(name, args, kwargs))
            return _Rule.apply(lambda t: base(t, *args[1:], **options), backward, args[0])
        if name in _MAX_POOLS and not kwargs.get("return_indices"):
            return self._max_pool(name, args, kwargs)
        if name == "batch_norm" and _bind(("input", "running_mean", "running_var", "weight", "bias", "training"),
                                          args, kwargs).get("training"):  # fmt: skip
            raise HookError("DeepLIFT needs batch norm in eval mode: batch statistics would mix input and reference")
        out = func(*args, **kwargs)
        if name in _SCALES and (self.on_path(args[1:]) or self.on_path(list(kwargs.values()))):
            self.missing[f"{name} of two activations"] += 1  # x * y, x / y: neither linear nor elementwise
        elif name not in _LINEAR and name not in _SCALES and _differentiable(out):
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
        bound = _bind(("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"), args, kwargs)
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

        return _Rule.apply(lambda t: pool(t, *geometry), backward, bound["input"])


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
        raise _missing_error(method, mode.missing, "rule (Rescale multiplier or linear map)")


class _UnclippedMode(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        bounds = _clamp_bounds(getattr(func, "__name__", ""), args, kwargs)
        if bounds is not None and bounds[0] == 0.0 and bounds[1] < math.inf:
            return F.relu(args[0])
        return func(*args, **kwargs)


def relu_for_relu6() -> TorchFunctionMode:
    """A mode: ReLU6 (``hardtanh(x, 0, hi)``) runs as ReLU, i.e. the same weights without the clip. Thread-local."""
    return _UnclippedMode()
