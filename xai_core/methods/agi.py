"""Adversarial Gradient Integration (Pan, Li, Zhu 2021; survey sec. 2.3, eq. 27).

AGI_j(x) = integral along the steepest-ascent path of p_j from x until argmax f = j of -grad f_c(x_t) * dx_t  (eq. 27)
AGI(x)   = sum over adversarial classes j != c of AGI_j(x)

discretised as in pd90506/AGI ``AGI_main.py`` (``pgd_step``/``fgsm_step``): from x_0 = x, while argmax f(x_t) != j
and t < max_iter,
    x_{t+1} = clip_[0,1](x_t + epsilon * sign(grad p_j(x_t))),   p_j the softmax probability of class j
    AGI_j  += -grad f_c(x_t) * (x_{t+1} - x_t)
so sum(AGI_j) is the first-order drop f_c(x) - f_c(x_adv) along the path. All (image, class) pairs advance together,
one forward and two backward passes (grad p_j, grad f_c) per iteration; a pair leaves the batch when it succeeds.

Defaults as the authors ran the paper: 20 adversarial classes and at most 20 iterations of step 0.05 (README of
pd90506/AGI: "In the paper, we choose iter=20 and k=20"; ``--eps`` 0.05), and f_c the softmax probability of the
explained class (``score="probability"``: ``pgd_step``'s ``loss_lab = softmax(output)[init_pred]``). The script's
own defaults moved between commits (50 iterations and 20 classes in its first commit 4148843, 15 and 15 from
caf2fdd on); the paper's setting is the one its figures and numbers come from. ``score="output"`` integrates the
request's explained output instead (the logit unless ``output="probability"``).

Deviations from ``AGI_main.py``:
- ``fgsm_step`` there perturbs the *original* image at every iteration (``fgsm_step(image, ...)``), so its path never
  leaves the first step; we step from the current point x_t, as the paper's Algorithm 1 and eq. 27.
- Adversarial classes are ``num_classes`` drawn at random (seeded) per image, as the quantitative scripts
  (``random.sample``) and the paper, not ``AGI_main.py``'s fixed ``range(0, 999, 1000 // topk)``. A model with
  fewer classes uses every other class, and ``extras["notes"]`` says so.
- The quantitative scripts append a softmax to the model and ``pgd_step`` applies another one (a double softmax);
  here p_j is one softmax of the logits, as in ``AGI_main.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.methods._adversarial import pixel_forward, scores_at
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam, FloatParam, IntParam, ParameterError
from xai_core.paths import PixelSpace
from xai_core.registry import register
from xai_core.targets import Target

NUM_CLASSES = IntParam("num_classes", 20, "adversarial classes drawn at random and summed over", low=1, high=1000)
MAX_ITER = IntParam("max_iter", 20, "ascent steps per class at most (a class stops once reached)", low=1, high=1000)
SCORES = ("probability", "output")
SCORE = ChoiceParam(
    "score", "probability", "f_c integrated: the softmax probability of the explained class (as the authors), or the "
    "request's explained output (logit by default)", SCORES,
)  # fmt: skip
EPSILON = FloatParam("epsilon", 0.05, "ascent step per iteration (pixel units; sign steps)", low=1e-6, high=1.0)
SEED = IntParam("seed", 0, "seed of the adversarial class draw", low=0, high=2**31 - 1)


def adversarial_classes(classes: Tensor, num_outputs: int, count: int, generator: torch.Generator) -> Tensor:
    """``[B, m]`` distinct classes != ``classes[b]``, drawn per image (m = min(count, K - 1))."""
    if num_outputs < 2:
        raise ParameterError(f"agi needs a model with at least 2 classes; this one has {num_outputs}")
    m = min(count, num_outputs - 1)
    draws = [torch.randperm(num_outputs - 1, generator=generator)[:m] for _ in range(classes.shape[0])]
    drawn = torch.stack(draws)
    return drawn + (drawn >= classes.view(-1, 1)).long()  # skip the explained class


def agi_paths(
    model: nn.Module, inputs: Tensor, target: Target, adversarial: Tensor, space: PixelSpace, *, epsilon: float,
    max_iter: int, chunk_size: int, progress: Callable[[float], None] | None = None,
) -> dict[str, Tensor]:  # fmt: skip
    """AGI summed over each image's classes ``[B, C, H, W]``; per (image, class) row (b-major): success, steps, p_j."""
    batch, m = adversarial.shape
    rows = batch * m
    sample = torch.arange(rows) // m
    pixels = space.to_pixels(inputs).detach()
    adv = adversarial.reshape(-1).to(inputs.device)
    true = target.classes[sample]
    total = torch.zeros_like(inputs, dtype=torch.float64)
    success, steps = torch.zeros(rows, dtype=torch.bool), torch.zeros(rows, dtype=torch.long)
    probability = torch.zeros(rows, max_iter + 1, dtype=torch.float64)
    for part in chunks(rows, chunk_size):
        ids = torch.arange(part.start, part.stop)
        current = pixels[sample[ids].to(inputs.device)].clone()
        done = torch.zeros(ids.numel(), dtype=torch.bool)
        for t in range(max_iter + 1):
            live = torch.nonzero(~done).flatten()
            if live.numel() == 0:
                break
            row, row_d = ids[live], ids[live].to(inputs.device)
            leaf, logits = pixel_forward(model, current[live.to(inputs.device)], space)
            p_adv = logits.softmax(dim=1).gather(1, adv[row_d].view(-1, 1)).squeeze(1)
            probability[row, t:] = p_adv.detach().double().cpu().view(-1, 1)  # carried forward once a row stops
            hit = (logits.argmax(dim=1) == adv[row_d]).cpu()
            done[live[hit]] = True
            success[row[hit]] = True
            if t == max_iter or bool(hit.all()):
                break
            (grad_adv,) = torch.autograd.grad(p_adv.sum(), leaf, retain_graph=True)
            (grad_true,) = torch.autograd.grad(Target(true[row], target.output)(logits).sum(), leaf)
            moved = leaf.detach() + epsilon * grad_adv.sign()
            moved = moved.clamp(0.0, 1.0) if space.bounded else moved
            go, go_d = live[~hit], (~hit).to(inputs.device)
            step = -grad_true[go_d] * (moved[go_d] - leaf.detach()[go_d])  # -grad f_c(x_t) * (x_{t+1} - x_t)
            total.index_add_(0, sample[ids[go]].to(inputs.device), step.double())
            current[go.to(inputs.device)] = moved[go_d]
            steps[ids[go]] += 1
        if progress is not None:
            progress(part.stop / rows)
    return {"attributions": total, "success": success, "steps": steps, "probability": probability}


@register
class AdversarialGradientIntegration(Method):
    name = "agi"
    title = "Adversarial Gradient Integration (AGI)"
    family = "integrated"
    paper = "Pan, Li, Zhu. Explaining Deep Neural Network Models with Adversarial Gradient Integration. IJCAI 2021"
    url = "https://www.ijcai.org/proceedings/2021/0396.pdf"
    summary = "Gradients integrated along steepest-ascent paths towards random other classes, summed over them."
    reduction = "sum"
    params = (NUM_CLASSES, MAX_ITER, EPSILON, SCORE, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["num_classes"]) * int(params["max_iter"])

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        _, logits = scores_at(ctx.model, inputs, ctx.target)  # validates the target first
        generator = ctx.generator or torch.Generator().manual_seed(params["seed"])
        wanted, available = params["num_classes"], logits.shape[1] - 1
        adversarial = adversarial_classes(ctx.target.classes, logits.shape[1], wanted, generator)
        if wanted > available:
            ctx.extras["notes"] = (
                f"agi: num_classes={wanted} but the model has {logits.shape[1]} classes: all {available} other "
                "classes were used",
            )
        score = ctx.target if params["score"] == "output" else Target(ctx.target.classes, "probability")
        paths = agi_paths(
            ctx.model, inputs, score, adversarial, ctx.space,
            epsilon=params["epsilon"], max_iter=params["max_iter"], chunk_size=ctx.chunk_size, progress=ctx.report,
        )  # fmt: skip
        batch, m = adversarial.shape
        ctx.extras["adversarial_classes"] = adversarial
        ctx.extras["attack_success"] = paths["success"].view(batch, m)
        ctx.extras["attack_steps"] = paths["steps"].view(batch, m)
        ctx.extras["adversarial_probability"] = paths["probability"].view(batch, m, -1)
        return paths["attributions"].to(inputs.dtype)
