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

from torch import Tensor

from xai_core.hooks.relevance import STABILIZER, AffineCall, stabilize

Rule = Callable[[AffineCall, Tensor], Tensor]


def epsilon(eps: float) -> Rule:
    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        return call.inputs * call.transpose(call.weight, relevance / stabilize(call.output, eps))

    return rule


def alpha_beta(alpha: float, beta: float, *, bias: bool = True) -> Rule:
    """zennit's ``AlphaBeta(alpha, beta)``; ``bias=False`` zeroes the bias (zennit's ``zero_params=['bias']``)."""

    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        x_pos, x_neg = call.inputs.clamp(min=0), call.inputs.clamp(max=0)
        w_pos, w_neg = call.weight.clamp(min=0), call.weight.clamp(max=0)
        b = call.bias if bias else None
        result = 0.0
        for factor, (w_a, w_b, b_part) in (
            (alpha, (w_pos, w_neg, b.clamp(min=0) if b is not None else None)),  # positive contributions
            (-beta, (w_neg, w_pos, b.clamp(max=0) if b is not None else None)),  # negative contributions
        ):
            if factor == 0:
                continue
            z = call.forward(x_pos, w_a, b_part) + call.forward(x_neg, w_b, None)
            s = relevance / stabilize(z, STABILIZER)
            result = result + factor * (x_pos * call.transpose(w_a, s) + x_neg * call.transpose(w_b, s))
        assert isinstance(result, Tensor)
        return result

    return rule


def gamma(g: float) -> Rule:
    """zennit's generalised ``Gamma``: favours positive contributions on positive outputs and vice versa."""

    def rule(call: AffineCall, relevance: Tensor) -> Tensor:
        x_pos, x_neg = call.inputs.clamp(min=0), call.inputs.clamp(max=0)
        w_up, w_down = call.weight + g * call.weight.clamp(min=0), call.weight + g * call.weight.clamp(max=0)
        b = call.bias
        b_up = b + g * b.clamp(min=0) if b is not None else None
        b_down = b + g * b.clamp(max=0) if b is not None else None
        z_up = call.forward(x_pos, w_up, b_up) + call.forward(x_neg, w_down, None)
        z_down = call.forward(x_pos, w_down, b_down) + call.forward(x_neg, w_up, None)
        s_up = (call.output > 0).to(relevance) * relevance / stabilize(z_up, STABILIZER)
        s_down = (call.output < 0).to(relevance) * relevance / stabilize(z_down, STABILIZER)
        return x_pos * (call.transpose(w_up, s_up) + call.transpose(w_down, s_down)) + x_neg * (
            call.transpose(w_down, s_up) + call.transpose(w_up, s_down)
        )

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
