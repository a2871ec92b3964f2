"""Negative Flux Aggregation, NeFLAG (Li, Pan, Li, Qiang, Zhu 2023; survey sec. 2.3, eqs. 32-34).

With F = grad f the gradient field of the explained score, the divergence theorem (eq. 33) turns the divergence
in a neighbourhood V of x into the flux of F through its surface; NeFLAG keeps the part where the flux is
negative, the directions in which the prediction drops:

    w_hat = surface integral over S-_x of F(x~) * n(x~) dS                                              (eq. 34)

S-_x = {x~ : ||x~ - x||_2 = epsilon, F(x~) . n(x~) < 0} on the epsilon-sphere around x, n = (x~ - x) / epsilon its
outward normal and * the element-wise product. Estimator implemented here (the paper's Algorithm 1 is not
available to us; its authors' repository xinli0928/NeFLAG holds no code): ``samples`` points per image start
uniformly on the sphere (seeded) and take ``steps`` steps of gradient descent on f constrained to the sphere,

    u <- (u - F / ||F||) / ||u - F / ||F|| ||,   x~ = x + epsilon u,

(a descent step of length epsilon, projected back radially), which carries them into S-_x. Then

    w_hat ~ 1/samples * sum_k [F(x~_k) . u_k < 0] F(x~_k) * u_k       (Monte Carlo; the area |S| is a constant factor)

The map is -w_hat, so that, as for AGI and IG, positive values support the prediction: sum(-w_hat) * epsilon is
the first-order drop of f from x to the sphere points. For a linear f = w . x + b, F = w everywhere, the descent
ends at u = -w / ||w|| and the map is exactly w * w / ||w||_2, whatever x and epsilon. The sphere lives in pixel
space (radius in pixel units) and is not clipped to [0, 1]: the gradient field is defined off the image box.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.methods._adversarial import TINY, pixel_forward, scores_at
from xai_core.methods.base import Context, Method
from xai_core.params import FloatParam, IntParam
from xai_core.registry import register
from xai_core.targets import Target

EPSILON = FloatParam("epsilon", 1.0, "L2 radius of the sphere around the image (pixel units)", low=1e-6, high=1000.0)
SAMPLES = IntParam("samples", 10, "points on the sphere (NeFLAG-n in the paper)", low=1, high=1024)
STEPS = IntParam("steps", 10, "descent steps on the sphere per point", low=0, high=1000)
SEED = IntParam("seed", 0, "seed of the random starting points on the sphere", low=0, high=2**31 - 1)


def _unit(v: Tensor) -> Tensor:
    return v / v.flatten(1).norm(dim=1).clamp_min(TINY).view(-1, *([1] * (v.ndim - 1)))


@register
class NegativeFluxAggregation(Method):
    name = "neflag"
    title = "Negative Flux Aggregation (NeFLAG)"
    family = "integrated"
    paper = "Li, Pan, Li, Qiang, Zhu. Negative Flux Aggregation to Estimate Feature Attributions. IJCAI 2023"
    url = "https://arxiv.org/abs/2301.06989"
    summary = "Gradient times outward normal, averaged over points on a small sphere where the flux is negative."
    reduction = "sum"
    params = (EPSILON, SAMPLES, STEPS, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["samples"]) * (int(params["steps"]) + 1) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        f_input, _ = scores_at(ctx.model, inputs, ctx.target)  # validates the target first
        eps, n, steps = params["epsilon"], params["samples"], params["steps"]
        batch, shape, device = inputs.shape[0], inputs.shape[1:], inputs.device
        generator = ctx.generator or torch.Generator().manual_seed(params["seed"])
        # Starting directions image by image (b-major rows b * n + k): a map does not depend on the batch.
        start = torch.cat([_unit(torch.randn((n, *shape), generator=generator)) for _ in range(batch)])
        pixels = ctx.space.to_pixels(inputs).detach()
        sample = torch.arange(batch * n) // n
        total = torch.zeros_like(inputs, dtype=torch.float64)
        flux, f_sphere = torch.empty(batch * n, dtype=torch.float64), torch.empty(batch * n)
        for part in chunks(batch * n, ctx.chunk_size):
            ids = sample[part].to(device)
            origin, u = pixels[ids], start[part].to(device, inputs.dtype)
            target = Target(ctx.target.classes[sample[part]], ctx.target.output)
            for t in range(steps + 1):
                leaf, logits = pixel_forward(ctx.model, origin + eps * u, ctx.space)
                scores = target(logits)
                (field,) = torch.autograd.grad(scores.sum(), leaf)  # F at x~ (pixel space)
                if t < steps:
                    u = _unit(u - _unit(field))
            through = (field * u).flatten(1).sum(dim=1)  # F . n at the final points
            negative = (through < 0).to(field.dtype).view(-1, *([1] * len(shape)))
            total.index_add_(0, ids, (negative * field * u).double())
            flux[part], f_sphere[part] = through.detach().double().cpu(), scores.detach().cpu()
            ctx.report(part.stop / (batch * n))
        ctx.extras["flux"] = flux.view(batch, n)
        ctx.extras["negative_fraction"] = (flux.view(batch, n) < 0).double().mean(dim=1)
        ctx.extras["f_input"], ctx.extras["f_sphere"] = f_input.cpu(), f_sphere.view(batch, n)
        return (-total / n).to(inputs.dtype)
