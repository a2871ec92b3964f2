"""Smooth Grad-CAM++ against a re-implementation of TorchCAM's ``SmoothGradCAMpp`` loop, Grad-CAM++ at sigma = 0,
and the difference from SmoothGrad over Grad-CAM++ (``grad_cam_pp`` with ``noise=Noise("smoothgrad")``).

The re-implementation follows ``torchcam/methods/gradient.py`` (``_compute_smoothgrad_weights`` then
``compute_cams``) line by line on the same noise draws, with a switch at each of the four places where
``smooth_grad_cam_pp`` departs from it on purpose (see the method's docstring).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from toys import CAM_LAYER_INDEX, images, relu_cnn

import xai_core

TARGETS = [0, 3]


def our_draws(x: torch.Tensor, samples: int, sigma: float, seed: int) -> torch.Tensor:
    """The method's noise: per image, ``samples`` standard normal draws times sigma * (max - min) of that image."""
    generator = torch.Generator().manual_seed(seed)
    draws = torch.stack([torch.randn((samples, *x.shape[1:]), generator=generator) for _ in range(len(x))])
    spread = x.flatten(1).max(1).values - x.flatten(1).min(1).values
    return draws * sigma * spread.view(-1, 1, 1, 1, 1)  # [B, n, C, H, W]


def torchcam_smooth_cam(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, targets: list[int], noise: torch.Tensor, *,
    denominator: str, relu_of: str, activations: str,
) -> torch.Tensor:  # fmt: skip
    """TorchCAM's loop for each image; ``denominator``/``relu_of``/``activations`` = "torchcam" or "ours"."""
    hooked: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: hooked.__setitem__("a", out))
    cams = []
    try:
        for b, c in enumerate(targets):
            with torch.no_grad():
                model(x[b : b + 1])
            init_fmap = hooked["a"].clone()
            grad_1 = grad_2 = grad_3 = torch.zeros_like(init_fmap)
            for e in noise[b]:
                score = model((x[b] + e).unsqueeze(0))[0, c]
                (grad,) = torch.autograd.grad(score, hooked["a"])
                grad_1, grad_2, grad_3 = grad_1 + grad, grad_2 + grad.pow(2), grad_3 + grad.pow(3)
            n = len(noise[b])
            grad_1, grad_2, grad_3 = grad_1 / n, grad_2 / n, grad_3 / n
            if denominator == "torchcam":
                spatial = (grad_3 * init_fmap).flatten(2).sum(-1)[..., None, None]
            else:
                spatial = init_fmap.flatten(2).sum(-1)[..., None, None] * grad_3
            alpha = torch.where(grad_2 > 0, grad_2 / (2 * grad_2 + spatial + 1e-6), torch.zeros_like(grad_2))
            relu = torch.relu(grad if relu_of == "torchcam" else grad_1)
            weights = (alpha * relu).flatten(2).sum(-1)
            fmap = hooked["a"].detach() if activations == "torchcam" else init_fmap
            cams.append(torch.relu((weights[..., None, None] * fmap).sum(1, keepdim=True)))
    finally:
        handle.remove()
    return torch.nn.functional.interpolate(torch.cat(cams), size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torchcams_loop_with_our_four_choices(seed: int) -> None:
    model, x = relu_cnn(seed), images(batch=2, size=12, seed=seed + 3)
    layer, samples, sigma = model[CAM_LAYER_INDEX], 5, 0.2
    noise = our_draws(x, samples, sigma, seed=7)
    ours = xai_core.attribute(model, x, "smooth_grad_cam_pp", target=TARGETS, layer=layer, samples=samples,
                              sigma=sigma, seed=7).attributions  # fmt: skip
    expected = torchcam_smooth_cam(model, layer, x, TARGETS, noise, denominator="ours", relu_of="ours",
                                   activations="ours")  # fmt: skip
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-7)
    # TorchCAM as it is (its denominator, the last copy's gradient and activations) gives another map.
    theirs = torchcam_smooth_cam(model, layer, x, TARGETS, noise, denominator="torchcam", relu_of="torchcam",
                                 activations="torchcam")  # fmt: skip
    assert (theirs - ours).abs().max() > 1e-3 * ours.abs().max()


def test_sigma_zero_is_grad_cam_pp() -> None:
    model, x = relu_cnn(2), images(batch=2, size=12, seed=5)
    layer = model[CAM_LAYER_INDEX]
    smooth = xai_core.attribute(model, x, "smooth_grad_cam_pp", target=TARGETS, layer=layer, sigma=0.0, samples=4)
    plain = xai_core.attribute(model, x, "grad_cam_pp", target=TARGETS, layer=layer)
    torch.testing.assert_close(smooth.attributions, plain.attributions, rtol=1e-5, atol=1e-7)


def test_differs_from_smoothgrad_over_grad_cam_pp_as_expected() -> None:
    # Layer = the last ReLU, followed by average pooling and a linear head: dY/dA is the same for every input. Smooth
    # Grad-CAM++ then ignores the noise (constant powers, clean activations) and equals Grad-CAM++; SmoothGrad over
    # Grad-CAM++ averages maps of noisy activations and moves.
    model, x = relu_cnn(4), images(batch=2, size=12, seed=6)
    layer = model[CAM_LAYER_INDEX + 1]
    kwargs = {"target": TARGETS, "layer": layer}
    plain = xai_core.attribute(model, x, "grad_cam_pp", **kwargs).attributions
    smooth = xai_core.attribute(model, x, "smooth_grad_cam_pp", samples=8, sigma=0.3, **kwargs).attributions
    averaged = xai_core.attribute(
        model, x, "grad_cam_pp", noise=xai_core.Noise("smoothgrad", samples=8, sigma=0.3), **kwargs
    )
    torch.testing.assert_close(smooth, plain, rtol=1e-5, atol=1e-7)
    assert (averaged.attributions - plain).abs().max() > 0.05 * plain.abs().max()
    assert averaged.request.title.startswith("grad_cam_pp + SmoothGrad")


def test_seeded_and_noise_dependent() -> None:
    model, x = relu_cnn(), images(batch=1, size=12)
    run = lambda seed: xai_core.attribute(  # noqa: E731
        model, x, "smooth_grad_cam_pp", target=1, layer=model[CAM_LAYER_INDEX], samples=3, seed=seed
    ).attributions  # fmt: skip
    torch.testing.assert_close(run(1), run(1))
    assert not torch.equal(run(1), run(2))
