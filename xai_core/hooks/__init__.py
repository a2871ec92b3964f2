"""The only package that touches a model's forward or backward: hooks, function modes and the model lock.

Two mechanisms, each removed in ``finally`` (never in ``__del__``):

* Module forward hooks (``capture_layer``) for CAM methods: they need the output of one named layer. These
  register on the caller's module, so they run under ``model_lock``: a model cached by the app is shared by
  every browser session.
* ``TorchFunctionMode`` interception (``activation_rule``, ``capture_biases``). A function mode sees every call
  to ``relu``/``hardtanh``/``batch_norm``/``conv2d`` whether it comes from an ``nn.ReLU``, an ``nn.ReLU6``, a fused
  ``BatchNormAct2d`` (timm) or functional code, without registering anything on the model; the mode stack is
  thread-local, so concurrent sessions do not see each other's rules.

``xai_core.hooks.relevance`` (LRP) and ``xai_core.hooks.rescale`` (DeepLIFT) hold function modes that replace the
backward pass of every op on the input's path (convolutions, batch norm, additions, pooling), not only the
activations; what they share is in ``xai_core.hooks._rules``. ``xai_core.hooks.padding`` holds RectGrad's padding
trick (no gradient through the border of zero-padded convolutions).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The per-model re-entrant lock held while hooks are registered on ``model``."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


class HookError(RuntimeError):
    """A rule or capture could not reach what it needs in this model."""


def leaf_output_bytes(model: nn.Module, sample: Tensor) -> int:
    """Bytes of every leaf module's output for ``sample`` (one gradient-free probe forward under ``model_lock``):
    what ``batching.auto_chunk_size`` divides its memory budget by."""
    total = [0]

    def count(_m: nn.Module, _i: object, out: object) -> None:
        if isinstance(out, Tensor):
            total[0] += out.numel() * out.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    with model_lock(model):
        handles = [m.register_forward_hook(count) for m in leaves]
        try:
            with torch.inference_mode():
                model(sample)
        finally:
            for handle in handles:
                handle.remove()
    return total[0]


# --- layer capture (CAM methods) -------------------------------------------------------------------------------


@dataclass
class LayerCapture:
    """Outputs of one layer from the last forward pass; ``outputs[-1]`` is the latest call."""

    outputs: list[Tensor] = field(default_factory=list)

    @property
    def output(self) -> Tensor:
        if not self.outputs:
            raise HookError("the chosen layer was not called during the forward pass; pick another layer")
        return self.outputs[-1]


@contextmanager
def capture_layer(layer: nn.Module) -> Iterator[LayerCapture]:
    """Record ``layer``'s output and hand a clone downstream.

    The clone keeps the recorded tensor pristine when the next op is in place (``ReLU(inplace=True)``), so both
    its values and ``torch.autograd.grad(score, capture.output)`` refer to the layer's real output, and the
    backward pass stops at the layer instead of running down to the input.
    """
    capture = LayerCapture()

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> Tensor:
        if not isinstance(output, Tensor):
            raise HookError(f"layer {type(layer).__name__} returns {type(output).__name__}, not a tensor")
        capture.outputs.append(output)
        return output.clone()

    with model_lock(layer):
        handle = layer.register_forward_hook(hook)
        try:
            yield capture
        finally:
            handle.remove()


# --- activation backward rules (deconvnet, guided backprop, RectGrad) ------------------------------------------

RULES = ("gradient", "guided", "deconvnet", "rectgrad")
# ReLU-like activations a ReLU rule cannot stand in for: a model using them gets an error, not a plain gradient.
_UNREACHABLE = {
    F.silu, F.gelu, F.elu, F.selu, F.celu, F.leaky_relu, F.mish, F.hardswish, F.softplus, F.prelu,
    torch.nn.functional.rrelu,
}  # fmt: skip
_RELU = {F.relu, torch.relu, Tensor.relu, F.relu_, torch.relu_, Tensor.relu_}


class _ReluRule(torch.autograd.Function):
    """``clamp(pre, low, high)`` forward; the backward of the chosen rule (survey Fig. 3, eq. 5).

    Only the output is saved: ``low < out < high`` exactly where ``low < pre < high``, so the forward mask comes
    from ``out`` through ATen's own ``threshold_backward``/``hardtanh_backward`` (one fused kernel, as in the plain
    backward) instead of a chain of comparisons and products.
    """

    @staticmethod
    def forward(ctx: Any, pre: Tensor, low: float, high: float | None, rule: str, q: float) -> Tensor:
        out = pre.clamp(min=low, max=high)
        ctx.save_for_backward(out)
        ctx.low, ctx.high, ctx.rule, ctx.q = low, high, rule, q
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (out,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":  # R_l = (R_{l+1} > 0) R_{l+1}: ignores the forward mask
            return grad.clamp(min=0), None, None, None, None
        if ctx.rule == "rectgrad":  # R_l = 1[a_l * R_{l+1} > tau] R_{l+1}, tau = q-th percentile per sample
            importance = (out * grad).flatten(1)
            k = min(importance.shape[1], max(1, round(ctx.q / 100.0 * (importance.shape[1] - 1)) + 1))
            tau = importance.kthvalue(k, dim=1).values.view(-1, *([1] * (grad.ndim - 1)))
            return torch.where(out * grad > tau, grad, torch.zeros_like(grad)), None, None, None, None
        signal = grad.clamp(min=0) if ctx.rule == "guided" else grad  # guided: R_l = 1[a_l > 0] max(R_{l+1}, 0)
        if ctx.high is None:
            masked = torch.ops.aten.threshold_backward(signal, out, ctx.low)
        else:
            masked = torch.ops.aten.hardtanh_backward(signal, out, ctx.low, ctx.high)
        return masked, None, None, None, None


class _ActivationRuleMode(TorchFunctionMode):
    def __init__(self, rule: str, q: float) -> None:
        super().__init__()
        self.rule, self.q = rule, q
        self.reached = 0
        self.unreachable: Counter[str] = Counter()

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELU:
            self.reached += 1
            return _ReluRule.apply(args[0], 0.0, None, self.rule, self.q)
        if func is F.hardtanh:  # nn.ReLU6 calls hardtanh(x, 0, 6)
            low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
            high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
            if low == 0.0:
                self.reached += 1
                return _ReluRule.apply(args[0], 0.0, float(high), self.rule, self.q)
            self.unreachable["hardtanh"] += 1
        elif func is F.relu6:
            self.reached += 1
            return _ReluRule.apply(args[0], 0.0, 6.0, self.rule, self.q)
        elif func in _UNREACHABLE:
            self.unreachable[func.__name__] += 1
        return func(*args, **kwargs)


@contextmanager
def activation_rule(rule: str, q: float = 0.0, method: str = "") -> Iterator[None]:
    """Run forwards inside this block with ``rule`` as the backward of every ReLU and ReLU6.

    After the block, a model none of whose activations the rule reached, or that also uses ReLU-like
    activations the rule cannot stand in for (SiLU, GELU, ...), raises ``HookError`` instead of silently
    returning a plain gradient.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    mode = _ActivationRuleMode(rule, q)
    with mode:
        yield
    who = method or f"the '{rule}' rule"
    if mode.unreachable:
        found = ", ".join(f"{name} (x{count})" for name, count in sorted(mode.unreachable.items()))
        raise HookError(
            f"{who} replaces the backward pass of ReLU and ReLU6 only, but this model also uses {found}; "
            "the result would silently mix rules. Pick a ReLU/ReLU6 model or a method without a backward rule."
        )
    if mode.reached == 0:
        raise HookError(f"{who} found no ReLU or ReLU6 activation in this model; its rule would not apply.")


# --- bias capture (FullGrad) -----------------------------------------------------------------------------------


@dataclass
class BiasTerm:
    """One layer's bias vector (per output channel) and the gradient of the target w.r.t. its output."""

    kind: str  # "conv", "batch_norm" or "linear"
    bias: Tensor  # [C], explicit bias or the implicit bias of an eval-mode batch norm
    grad: Tensor | None = None  # [B, C, ...], filled by the backward pass


class _BiasCaptureMode(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.terms: list[BiasTerm] = []

    def _record(self, kind: str, out: Tensor, bias: Tensor) -> Tensor:
        term = BiasTerm(kind, bias.detach())
        self.terms.append(term)
        if out.requires_grad:
            # A tensor hook registered before any in-place op downstream sees the gradient of this value.
            out.register_hook(lambda g, term=term: setattr(term, "grad", g))
        return out

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in (F.conv2d, torch.conv2d, F.linear):
            bias = kwargs.get("bias", args[2] if len(args) > 2 else None)
            if bias is not None:
                return self._record("linear" if func is F.linear else "conv", out, bias)
        elif func is F.batch_norm:
            names = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")
            bound = dict(zip(names, args, strict=False)) | kwargs
            if bound.get("training"):
                raise HookError("FullGrad needs batch norm in eval mode: its implicit bias uses running statistics")
            mean, var, eps = bound["running_mean"], bound["running_var"], bound.get("eps", 1e-5)
            gamma = bound.get("weight")
            beta = bound.get("bias")
            scale = (gamma if gamma is not None else torch.ones_like(mean)) / torch.sqrt(var + eps)
            # y = gamma (x - mu) / sqrt(var + eps) + beta  =>  implicit bias b = beta - mu * gamma / sqrt(var + eps)
            implicit = (beta if beta is not None else torch.zeros_like(mean)) - mean * scale
            return self._record("batch_norm", out, implicit)
        return out


@contextmanager
def capture_biases() -> Iterator[list[BiasTerm]]:
    """Record every conv/linear bias and batch-norm implicit bias used in the forward passes of this block."""
    mode = _BiasCaptureMode()
    with mode:
        yield mode.terms


def hook_count(model: nn.Module) -> int:
    """Hooks currently registered on ``model`` and its submodules (tests check it is back to zero)."""
    total = 0
    for module in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(module, name, {}))
    return total


def conv_bn_pairs(model: nn.Module, sample: Tensor) -> list[tuple[str, str]]:
    """(conv, batch norm) module names where the batch norm consumes exactly the conv's output in a forward pass.

    Found by tracing one forward with hooks rather than by module layout, so fused modules (timm's
    ``BatchNormAct2d``) and non-sequential containers are covered.
    """
    names = {module: name for name, module in model.named_modules()}
    last_conv: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []

    def on_conv(module: nn.Module, _inputs: Any, output: Any) -> None:
        last_conv["output"], last_conv["name"] = output, names[module]

    def on_bn(module: nn.Module, inputs: Any, _output: Any) -> None:
        if last_conv and inputs and inputs[0] is last_conv["output"]:
            pairs.append((last_conv["name"], names[module]))

    handles = []
    with model_lock(model):
        try:
            for module in model.modules():
                if isinstance(module, nn.Conv2d):
                    handles.append(module.register_forward_hook(on_conv))
                elif isinstance(module, nn.BatchNorm2d):
                    handles.append(module.register_forward_hook(on_bn))
            with torch.inference_mode():
                model(sample[:1])
        finally:
            for handle in handles:
                handle.remove()
    return pairs


class _SmoothActivationMode(TorchFunctionMode):
    """ReLU -> softplus_beta; hardtanh(lo, hi) (ReLU6) -> hi - softplus(hi - lo - softplus(x - lo)), a smooth max
    then a smooth min; out of place. ``replaced`` counts the calls it stood in for."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta, self.replaced = beta, 0

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _RELU:
            self.replaced += 1
            return F.softplus(args[0], self.beta)
        if func is F.hardtanh or func is F.relu6:  # nn.ReLU6 calls hardtanh(x, 0, 6)
            lo = 0.0 if func is F.relu6 else kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
            hi = 6.0 if func is F.relu6 else kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
            self.replaced += 1
            return hi - F.softplus(hi - lo - F.softplus(args[0] - lo, self.beta), self.beta)
        return func(*args, **kwargs)


def smooth_activations(beta: float = 10.0) -> _SmoothActivationMode:
    """A mode: forwards in ``with smooth_activations(beta):`` use softplus surrogates of ReLU/ReLU6/hardtanh.

    ReLU networks are piecewise linear: their input Hessian vanishes almost everywhere, so methods that
    differentiate a gradient (Integrated Hessians, the fragility attack) use this surrogate (Janizek et al. 2021;
    Ghorbani et al. 2019). Thread-local; the model is not touched.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive; got {beta}")
    return _SmoothActivationMode(beta)
