"""LRP rules for one affine layer, as zennit 0.5.1 defines them (``zennit/rules.py``), on an ``AffineCall``.

Each rule maps the relevance at a layer's output, ``R`` (shaped like ``call.output``), to the relevance at its input.
With ``z_j = sum_i w_ji x_i + b_j`` and ``stab(z) = z + eps sign(z)``:

* epsilon (Bach et al. 2015):     R_i = x_i sum_j w_ji R_j / stab(z_j)
* alpha-beta (Bach et al. 2015):  alpha times the rule on positive contributions z+ = W+ x+ + W- x- + b+, minus beta
  times the rule on negative ones z- = W- x+ + W+ x- + b-; alpha = 1, beta = 0 is zennit's ``ZPlus``
* z-plus without bias (Montavon et al. 2017, deep Taylor decomposition): alpha-beta(1, 0) with b = 0
* gamma (Montavon et al. 2019, generalised by zennit): W + gamma W+ on positive outputs, W + gamma W- on negative
* flat (Lapuschkin et al. 2019): every weight 1, inputs 1: R spread evenly over the receptive field
* z-box (Montavon et al. 2017): for bounded inputs l <= x <= h, z = W x - W+ l - W- h
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from xai_core.hooks.relevance import STABILIZER, AffineCall, stabilize

Rule = Callable[[AffineCall, Tensor], Tensor]


def epsilon(eps: float) -> Rule:
    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        return call.inputs * call.transpose(call.weight, relevance / stabilize(call.output, eps))

    return rule


def _signed_parts(x: Tensor) -> list[tuple[Tensor, bool]]:
    """(x+, True) and (x-, False), leaving out a part that is zero everywhere (x- after a ReLU): its terms vanish."""
    if not bool((x < 0).any()):
        return [(x, True)]
    return [(x.clamp(min=0), True), (x.clamp(max=0), False)]


def _share(
    call: AffineCall, relevance: Tensor, w_pos: Tensor, w_neg: Tensor, b: Tensor | None, gate: Tensor | None = None
) -> Tensor:
    """Relevance through the contributions z = W_pos x+ + b + W_neg x-, in proportion to each (``gate``: where)."""
    pairs = [(x, w_pos if positive else w_neg, b if positive else None) for x, positive in _signed_parts(call.inputs)]
    z = sum(call.forward(x, w, bias) for x, w, bias in pairs)
    assert isinstance(z, Tensor)
    s = relevance / stabilize(z, STABILIZER)
    if gate is not None:
        s = gate.to(s) * s
    return sum((x * call.transpose(w, s) for x, w, _ in pairs), torch.zeros_like(call.inputs))


def alpha_beta(alpha: float, beta: float, *, bias: bool = True) -> Rule:
    """zennit's ``AlphaBeta(alpha, beta)``; ``bias=False`` zeroes the bias (zennit's ``zero_params=['bias']``).

    Positive contributions pair x+ with W+ and x- with W- (plus b+); negative ones x+ with W- and x- with W+ (b-).
    """

    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        w_pos, w_neg = call.weight.clamp(min=0), call.weight.clamp(max=0)
        b = call.bias if bias else None
        result = alpha * _share(call, relevance, w_pos, w_neg, b.clamp(min=0) if b is not None else None)
        if beta:
            result = result - beta * _share(call, relevance, w_neg, w_pos, b.clamp(max=0) if b is not None else None)
        return result

    return rule


def gamma(g: float) -> Rule:
    """zennit's generalised ``Gamma``: on positive outputs x+ meets W + g W+ and x- meets W + g W- (and the bias
    b + g b+); on negative outputs the other way round."""

    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        w, b = call.weight, call.bias
        w_up, w_down = w + g * w.clamp(min=0), w + g * w.clamp(max=0)
        b_up = b + g * b.clamp(min=0) if b is not None else None
        b_down = b + g * b.clamp(max=0) if b is not None else None
        up = _share(call, relevance, w_up, w_down, b_up, gate=call.output > 0)
        return up + _share(call, relevance, w_down, w_up, b_down, gate=call.output < 0)

    return rule


def _mask(call: AffineCall) -> Tensor:
    return call.mask if call.mask is not None else call.inputs.new_ones(call.inputs.shape)


def flat(call: AffineCall, relevance: Tensor) -> Tensor:
    ones = call.weight.new_ones(call.weight.shape)
    return call.transpose(ones, relevance / stabilize(call.forward(_mask(call), ones, None), STABILIZER))


def z_box(low: Tensor, high: Tensor) -> Rule:
    """zennit's ``ZBox``: ``low``/``high`` broadcast to the input (per channel ``[1, C, 1, 1]`` or scalars)."""

    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        lo, hi = low.to(call.inputs) * _mask(call), high.to(call.inputs) * _mask(call)
        w_pos, w_neg = call.weight.clamp(min=0), call.weight.clamp(max=0)
        z = call.forward(call.inputs, call.weight, None) - call.forward(lo, w_pos, None) - call.forward(hi, w_neg, None)
        s = relevance / stabilize(z, STABILIZER)
        return (
            call.inputs * call.transpose(call.weight, s) - lo * call.transpose(w_pos, s) - hi * call.transpose(w_neg, s)
        )

    return rule
