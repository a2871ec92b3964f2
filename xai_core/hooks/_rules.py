"""What LRP's and DeepLIFT's function modes share: the ``Rule`` node, the input's path, op names and their errors.

Both methods run the model inside a ``TorchFunctionMode`` (a ``PathMode``) that swaps each op on the input's path
for a ``Rule`` node: its forward is the op itself, its backward the method's rule. Nothing is registered on the
model and the mode stack is thread-local, so concurrent sessions sharing a cached model do not see each other's
rules. An op neither rule set knows (SiLU, GELU, a product of two activations as in attention or
squeeze-excitation, layer norm, ...) is collected and refused with ``HookError`` after the forward pass: never a
silent plain gradient.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from xai_core.hooks import HookError

RELU_FAMILY = {"relu", "relu_", "relu6", "hardtanh", "hardtanh_"}
CONVS = {"conv1d", "conv2d", "conv3d"}
ADDS = {"add": 1.0, "add_": 1.0, "sub": -1.0, "sub_": -1.0}  # sign of the second operand; "__rsub__" is b - a
SCALES = {"mul", "mul_", "div", "div_"}  # linear when one operand is a constant
AVG_POOLS = {"avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
             "adaptive_avg_pool3d", "mean", "sum"}  # fmt: skip
MAX_POOLS = {"max_pool1d", "max_pool2d", "max_pool3d"}
# Ops that only move, copy, pad or drop (in eval mode) values: the plain backward routes relevance exactly.
STRUCTURAL = {
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "t", "contiguous",
    "clone", "squeeze", "unsqueeze", "expand", "expand_as", "__getitem__", "cat", "concat", "concatenate", "stack",
    "split", "chunk", "unbind", "narrow", "select", "movedim", "pad", "dropout", "dropout1d", "dropout2d",
    "dropout3d", "alpha_dropout", "feature_alpha_dropout", "to", "float", "double", "type_as",
}  # fmt: skip
# DeepLIFT: elementwise monotone activations that get the Rescale multiplier (Captum's set, plus ReLU6/hardtanh).
RESCALED = RELU_FAMILY | {"leaky_relu", "leaky_relu_", "elu", "elu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
                          "softplus"}  # fmt: skip
OUT_OF_PLACE: dict[str, Any] = {"relu_": torch.relu, "hardtanh_": F.hardtanh, "leaky_relu_": F.leaky_relu,
                                "elu_": F.elu, "sigmoid_": torch.sigmoid, "tanh_": torch.tanh}  # fmt: skip


class Rule(torch.autograd.Function):
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


def bind(names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(names, args, strict=False)) | kwargs


def clamp_bounds(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high) of a ReLU (0, inf), ReLU6 (0, 6) or hardtanh call; None for any other op."""
    if name in ("relu", "relu_"):
        return 0.0, math.inf
    if name == "relu6":
        return 0.0, 6.0
    if name in ("hardtanh", "hardtanh_"):
        bound = bind(("input", "min_val", "max_val"), args, kwargs)
        return float(bound.get("min_val", -1.0)), float(bound.get("max_val", 1.0))
    return None


def differentiable(out: Any) -> bool:
    """Whether an op's result carries gradient (a tensor, or a tuple of them, that requires grad)."""
    results = out if isinstance(out, (list, tuple)) else (out,)
    return any(isinstance(r, Tensor) and r.requires_grad for r in results)


class PathMode(TorchFunctionMode):
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


def missing_error(who: str, missing: Counter[str], what: str) -> HookError:
    found = ", ".join(f"{name} (x{count})" for name, count in sorted(missing.items()))
    return HookError(
        f"{who} has no {what} for {found} in this model; a plain gradient there would silently change the method. "
        "Pick a model built from convolutions, linear layers, batch norm, ReLU/ReLU6, pooling and additions."
    )
