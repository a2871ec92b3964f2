"""Expected Gradients, AGI and NeFLAG: closed forms, oracles and the properties each paper claims (BIG and BSM:
``test_boundary_methods.py``).

Small seeded models on 3x16x16 inputs. ``smooth_cnn`` (tanh/softplus) is used where a quadrature or Monte Carlo
error must shrink smoothly; tolerances are float32 ones unless a test says why it needs more.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from toys import images, linear_model

import xai_core

# Registration happens in xai_core.methods.__init__; importing here also works before that line exists.
from xai_core.methods import agi, big, bsm, expected_gradients, neflag  # noqa: F401
from xai_core.methods.expected_gradients import expected_gradients_attr
from xai_core.params import ParameterError
from xai_core.paths import quadrature
from xai_core.targets import Target

SIZE = 16


def smooth_cnn(seed: int = 0, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(6, 4, 3, padding=1, stride=2),
        nn.Softplus(),
        nn.Flatten(),
        nn.Linear(4 * (SIZE // 2) ** 2, classes),
    ).eval()


class PixelWrapper:
    """The parts of ``load_model``'s wrapper the methods use: [0, 1] pixels, a normalisation, preprocessing."""

    cam_layer = None

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.mean, self.std = 0.5, 0.25

    def to_pixels(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean

    def to_model_space(self, p: Tensor) -> Tensor:
        return (p - self.mean) / self.std

    def preprocess(self, image: Image.Image) -> Tensor:
        small = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float32) / 255.0
        return self.to_model_space(torch.from_numpy(small).permute(2, 0, 1).unsqueeze(0))


def pixel_images(batch: int = 2, seed: int = 1) -> Tensor:
    """Model-space inputs of ``PixelWrapper`` whose pixels lie inside (0, 1)."""
    pixels = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1
    return (pixels - 0.5) / 0.25


def _linear_weight(model: nn.Module) -> Tensor:
    return next(m for m in model.modules() if isinstance(m, nn.Linear)).weight.detach()


def _predicted(model: nn.Module, x: Tensor) -> list[int]:
    with torch.no_grad():
        return model(x).argmax(1).tolist()


# --- Expected Gradients ----------------------------------------------------------------------------------------


def test_eg_with_one_reference_and_ig_nodes_equals_ig() -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    reference = images(batch=1, size=SIZE, seed=9)
    steps = 16
    alphas, _ = quadrature("riemann_middle", steps)  # weights 1/n: the mean over the nodes
    target = Target(torch.tensor([1, 3]))
    eg = expected_gradients_attr(model, x, target, reference, alphas, torch.zeros(steps, dtype=torch.long), 5)
    ig = xai_core.attribute(
        model, x, "integrated_gradients", target=[1, 3], baseline=reference[0], steps=steps, rule="riemann_middle"
    )
    torch.testing.assert_close(eg, ig.attributions, rtol=1e-5, atol=1e-5)


def test_eg_equals_captum_gradient_shap_with_the_same_draws() -> None:
    gradient_shap = pytest.importorskip("captum.attr").GradientShap
    model, x, refs = smooth_cnn(), images(batch=2, size=SIZE), images(batch=5, size=SIZE, seed=4)
    n = 6
    np.random.seed(3)
    expected = gradient_shap(model).attribute(x, baselines=refs, target=[0, 2], n_samples=n, stdevs=0.0)
    np.random.seed(3)  # Captum draws n * B reference indices, then n * B coefficients, input-major
    index = torch.as_tensor(np.random.choice(refs.shape[0], n * 2)).view(2, n).T
    alphas = torch.as_tensor(np.random.uniform(0.0, 1.0, n * 2)).view(2, n).T.float()
    ours = expected_gradients_attr(model, x, Target(torch.tensor([0, 2])), refs, alphas, index, 4)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_eg_completeness_holds_in_expectation() -> None:
    model, x, refs = smooth_cnn(), images(batch=4, size=SIZE), images(batch=6, size=SIZE, seed=7)

    def mean_gap(samples: int) -> float:
        gaps = [
            xai_core.attribute(model, x, "expected_gradients", references=refs, samples=samples, seed=s, chunk_size=256)
            .completeness.gap.abs()
            .mean()
            for s in range(3)
        ]
        return float(torch.stack(gaps).mean())

    few, many = mean_gap(8), mean_gap(256)
    assert many < 0.5 * few, (few, many)  # Monte Carlo error ~ 1/sqrt(samples): 5.7x expected


def test_eg_same_seed_same_map_and_batch_independent() -> None:
    model, x, refs = smooth_cnn(), images(batch=2, size=SIZE), images(batch=3, size=SIZE, seed=2)
    run = lambda seed, inputs=x, target=(1, 2), chunk=None: xai_core.attribute(  # noqa: E731
        model, inputs, "expected_gradients", target=list(target), references=refs, samples=6, seed=seed,
        chunk_size=chunk,
    ).attributions  # fmt: skip
    torch.testing.assert_close(run(5, chunk=3), run(5, chunk=8))
    assert not torch.equal(run(5), run(6))
    torch.testing.assert_close(run(5)[:1], run(5, inputs=x[:1], target=(1,)))


def test_eg_references_default_to_the_sample_photos_through_the_wrapper() -> None:
    wrapper = PixelWrapper(smooth_cnn())
    result = xai_core.attribute(wrapper, pixel_images(1), "expected_gradients", samples=12)
    assert torch.isfinite(result.attributions).all()
    assert int(result.extras["reference_index"].max()) >= 1  # several photos were drawn


def test_eg_reference_errors_are_clear() -> None:
    model, x = smooth_cnn(), images(batch=1, size=SIZE)
    with pytest.raises(ParameterError, match="references="):
        xai_core.attribute(model, x, "expected_gradients")
    with pytest.raises(ParameterError, match=r"references must have shape \[R, 3, 16, 16\]"):
        xai_core.attribute(model, x, "expected_gradients", references=torch.zeros(2, 3, 8, 8))
    with pytest.raises(ParameterError, match="samples"):
        xai_core.attribute(model, x, "expected_gradients", references=x, samples=0)


def test_eg_never_uses_the_explained_image_as_its_baseline() -> None:
    from xai_core.images import load_sample, sample_images

    wrapper = PixelWrapper(smooth_cnn())
    photos = list(sample_images())
    x = wrapper.preprocess(load_sample(photos[0]).image)  # the app's path: a bundled photo through the wrapper
    result = xai_core.attribute(wrapper, x, "expected_gradients", samples=64, seed=1)
    info = result.extras["reference_set"]
    assert info.count == len(photos) and info.excluded.tolist() == [1]
    assert 0 not in result.extras["reference_index"].unique().tolist()
    assert info.caption() == (
        f"Reference set: the {len(photos)} bundled sample photos; 1 equal to the explained image left out, "
        f"{len(photos) - 1} used."
    )
    # A tensor set holding the image: left out for that image only.
    model, x2 = smooth_cnn(), images(batch=2, size=SIZE)
    refs = torch.cat([x2[:1], images(batch=2, size=SIZE, seed=8)])
    mixed = xai_core.attribute(model, x2, "expected_gradients", references=refs, samples=32, target=[0, 1])
    assert mixed.extras["reference_set"].excluded.tolist() == [1, 0]
    assert 0 not in mixed.extras["reference_index"][0].tolist() and 0 in mixed.extras["reference_index"][1].tolist()
    with pytest.raises(ParameterError, match=r"every reference .* is the explained image"):
        xai_core.attribute(model, x2[:1], "expected_gradients", references=x2[:1])
    # Under SmoothGrad the method sees noisy copies; the explained image is still left out of every draw.
    noisy = xai_core.attribute(
        model, x2, "expected_gradients", references=refs, samples=8, target=[0, 1],
        noise=xai_core.Noise(samples=3, sigma=0.2), chunk_size=2,
    )  # fmt: skip
    assert noisy.extras["reference_set"].excluded.reshape(-1, 2)[:, 0].tolist() == [1, 1, 1]
    assert 0 not in noisy.extras["reference_index"][:, 0].flatten().tolist()


def _write_images(folder: Any, count: int) -> list[Image.Image]:
    generator = np.random.default_rng(0)
    photos = [Image.fromarray(generator.integers(0, 256, (20, 24, 3), dtype=np.uint8)) for _ in range(count)]
    for i, photo in enumerate(photos):
        photo.save(folder / f"ref{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return photos


def test_eg_reference_sets_from_a_folder_or_a_list_equal_the_preprocessed_tensor(tmp_path: Any) -> None:
    wrapper = PixelWrapper(smooth_cnn())
    photos = _write_images(tmp_path, 3)
    x = pixel_images(1, seed=4)
    tensor = torch.cat([wrapper.preprocess(p) for p in photos])
    run = lambda refs: xai_core.attribute(  # noqa: E731
        wrapper, x, "expected_gradients", references=refs, samples=16, seed=2, target=1
    )  # fmt: skip
    expected = run(tensor)
    for given in (str(tmp_path), tmp_path, photos, [tmp_path / f"ref{i}.png" for i in range(3)]):
        result = run(given)
        torch.testing.assert_close(result.attributions, expected.attributions)
        assert result.extras["reference_set"].count == 3
    assert run(tmp_path).extras["reference_set"].source.startswith(f"folder {tmp_path.resolve()} (3 images)")
    assert run(photos).extras["reference_set"].source == "3 images"
    assert expected.extras["reference_set"].source == "a tensor of 3 images"
    request = xai_core.Request.create("expected_gradients", {"references": str(tmp_path)})
    assert request.key() == xai_core.Request.create("expected_gradients", {"references": tmp_path}).key()
    assert request.key() != xai_core.Request.create("expected_gradients", {"references": photos[:2]}).key()
    with pytest.raises(ParameterError, match="cannot be written as JSON"):
        request.to_dict()


def test_eg_reference_set_errors_name_what_is_wrong(tmp_path: Any) -> None:
    model, x = smooth_cnn(), images(batch=1, size=SIZE)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases: list[tuple[Any, str]] = [
        (empty, "holds no image files"),
        (tmp_path / "missing", "does not exist or is not a folder"),
        ([], "the list of reference images is empty"),
        ([3.5], "must be a PIL image, a LoadedImage, a file path, bytes or a binary file; got 'float'"),
        ([tmp_path / "nope.png"], "reference image file .* does not exist"),
        (torch.zeros(2, 3, dtype=torch.long), "must be a float tensor"),
    ]
    for references, message in cases:
        with pytest.raises(ParameterError, match=message):
            xai_core.attribute(model, x, "expected_gradients", references=references)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ParameterError, match=r"could not be read: bad\.png"):
        xai_core.attribute(PixelWrapper(model), pixel_images(1), "expected_gradients", references=broken)
    with pytest.raises(ParameterError, match="need a model from load_model"):
        xai_core.attribute(model, x, "expected_gradients", references=[Image.new("RGB", (16, 16))])


# --- AGI -------------------------------------------------------------------------------------------------------


def test_agi_ascends_towards_the_adversarial_classes() -> None:
    model, x = smooth_cnn(classes=10), images(batch=2, size=SIZE)
    result = xai_core.attribute(model, x, "agi", num_classes=3, epsilon=0.02, max_iter=12)
    assert torch.isfinite(result.attributions).all() and result.attributions.abs().sum() > 0
    classes, target = result.extras["adversarial_classes"], result.target.view(-1, 1)
    assert classes.shape == (2, 3) and (classes != target).all()
    assert all(len(set(row)) == 3 for row in classes.tolist())
    prob = result.extras["adversarial_probability"]  # [B, m, max_iter + 1], carried forward after a success
    assert (prob[..., -1] > prob[..., 0]).all()
    rises = (prob[..., 1:] >= prob[..., :-1] - 1e-7).double().mean()
    assert rises > 0.95, rises  # small sign steps: p_j increases at (almost) every step
    steps, success = result.extras["attack_steps"], result.extras["attack_success"]
    assert ((steps == 12) | success).all() and (steps <= 12).all()  # only a success stops a path early


def test_agi_sums_the_first_order_drop_on_a_linear_model() -> None:
    # f linear: -grad f_c . dx sums exactly to f_c(x) - f_c(x_T); a single class that is reached in one step.
    model = linear_model(shape=(3, SIZE, SIZE), classes=2)
    x = images(batch=1, size=SIZE)
    c = _predicted(model, x)[0]
    result = xai_core.attribute(model, x, "agi", target=c, num_classes=1, epsilon=0.5, max_iter=5, score="output")
    w = _linear_weight(model)
    j = 1 - c
    expected = -w[c].view(1, 3, SIZE, SIZE) * 0.5 * torch.sign(w[j] - w[c]).view(1, 3, SIZE, SIZE)
    steps = int(result.extras["attack_steps"][0, 0])
    assert steps >= 1 and bool(result.extras["attack_success"][0, 0])
    torch.testing.assert_close(result.attributions, steps * expected)


class Normalize(nn.Module):
    """The script's ``utils.Normalize`` layer: pixels in, the wrapper's model space out."""

    def __init__(self, wrapper: PixelWrapper) -> None:
        super().__init__()
        self.wrapper = wrapper

    def forward(self, pixels: Tensor) -> Tensor:
        return self.wrapper.to_model_space(pixels)


def authors_agi(model: nn.Module, pixels: Tensor, c: int, classes: list[int], epsilon: float, max_iter: int) -> Tensor:
    """``AGI_main.py``'s ``test``/``pgd_step``/``fgsm_step`` for one image, stepping from the current point (eq. 27).

    The one change: ``fgsm_step(perturbed_image, ...)`` where the script passes the original ``image``.
    """
    step_grad = torch.zeros_like(pixels)
    for target in classes:
        perturbed = pixels.clone()
        for _ in range(max_iter):
            perturbed.requires_grad = True
            output = model(perturbed)
            if output.argmax(1).item() == target:
                break
            output = F.softmax(output, dim=1)
            (grad_adv,) = torch.autograd.grad(output[0, target], perturbed, retain_graph=True)
            (grad_lab,) = torch.autograd.grad(output[0, c], perturbed)
            moved = torch.clamp(perturbed.detach() + epsilon * grad_adv.sign(), 0, 1)
            step_grad += -grad_lab * (moved - perturbed.detach())
            perturbed = moved
    return step_grad


def test_agi_defaults_follow_the_paper_and_match_the_authors_loop() -> None:
    defaults = {p.name: p.default for p in xai_core.methods.get("agi").params}
    assert (defaults["num_classes"], defaults["max_iter"], defaults["epsilon"], defaults["score"]) == (
        20, 20, 0.05, "probability",
    )  # fmt: skip
    wrapper = PixelWrapper(smooth_cnn(classes=10))  # the script puts Normalize in the model and steps on [0, 1] pixels
    pixels = wrapper.to_pixels(pixel_images(2, seed=3))
    result = xai_core.attribute(
        wrapper, wrapper.to_model_space(pixels), "agi", target=[2, 5], num_classes=4, max_iter=6
    )
    model = nn.Sequential(Normalize(wrapper), wrapper.module)
    for b, c in enumerate([2, 5]):
        classes = result.extras["adversarial_classes"][b].tolist()
        expected = authors_agi(model, pixels[b : b + 1], c, classes, 0.05, 6)
        torch.testing.assert_close(result.attributions[b : b + 1], expected, rtol=1e-4, atol=1e-7)


def test_agi_uses_every_other_class_of_a_small_model_and_notes_it() -> None:
    model, x = smooth_cnn(classes=4), images(batch=1, size=SIZE)
    result = xai_core.attribute(model, x, "agi", target=1, max_iter=2)
    assert sorted(result.extras["adversarial_classes"][0].tolist()) == [0, 2, 3]
    assert "all 3 other classes were used" in result.extras["notes"][0]
    assert "notes" not in xai_core.attribute(model, x, "agi", target=1, max_iter=2, num_classes=3).extras


def test_agi_is_seeded_and_batch_independent() -> None:
    model, x = smooth_cnn(classes=10), images(batch=2, size=SIZE)
    run = lambda seed, inputs=x, target=(0, 1), chunk=None: xai_core.attribute(  # noqa: E731
        model, inputs, "agi", target=list(target), num_classes=2, max_iter=5, seed=seed, chunk_size=chunk
    )  # fmt: skip
    first, again, other = run(3, chunk=2), run(3, chunk=8), run(4)
    torch.testing.assert_close(first.attributions, again.attributions)
    assert not torch.equal(first.extras["adversarial_classes"], other.extras["adversarial_classes"])
    torch.testing.assert_close(first.attributions[:1], run(3, inputs=x[:1], target=(0,)).attributions)


def test_agi_steps_stay_in_the_pixel_box() -> None:
    wrapper = PixelWrapper(smooth_cnn(classes=5))
    result = xai_core.attribute(wrapper, pixel_images(1), "agi", num_classes=2, epsilon=0.3, max_iter=4)
    assert torch.isfinite(result.attributions).all()


# --- NeFLAG ----------------------------------------------------------------------------------------------------


def test_neflag_on_a_linear_model_is_w_squared_over_its_norm() -> None:
    # F = w everywhere; descent on the sphere ends at n = -w/||w||, so -w_hat = w * w / ||w||_2 (see neflag.py).
    model = linear_model(shape=(3, SIZE, SIZE), classes=3)
    x = images(batch=2, size=SIZE)
    result = xai_core.attribute(model, x, "neflag", target=[0, 2], samples=3, steps=30, epsilon=0.7)
    w = _linear_weight(model)[[0, 2]]
    expected = (w * w / w.norm(dim=1, keepdim=True)).view(2, 3, SIZE, SIZE)
    torch.testing.assert_close(result.attributions, expected, rtol=1e-4, atol=1e-6)
    assert (result.extras["flux"] < 0).all() and torch.equal(result.extras["negative_fraction"], torch.ones(2).double())


def test_neflag_is_finite_seeded_and_batch_independent() -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    run = lambda seed, inputs=x, target=(1, 3), chunk=None: xai_core.attribute(  # noqa: E731
        model, inputs, "neflag", target=list(target), samples=4, steps=3, seed=seed, chunk_size=chunk
    ).attributions  # fmt: skip
    first = run(1, chunk=3)
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, run(1, chunk=8))
    assert not torch.equal(first, run(2))
    torch.testing.assert_close(first[:1], run(1, inputs=x[:1], target=(1,)))


def test_neflag_descent_lowers_the_score_on_the_sphere() -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    kwargs: dict[str, Any] = {"target": [0, 1], "samples": 4, "epsilon": 2.0}
    start = xai_core.attribute(model, x, "neflag", steps=0, **kwargs).extras["f_sphere"]
    after = xai_core.attribute(model, x, "neflag", steps=8, **kwargs).extras["f_sphere"]
    assert (after < start).all()


def test_sample_counts_must_be_positive() -> None:
    model, x = smooth_cnn(), images(batch=1, size=SIZE)
    cases: list[tuple[str, dict[str, Any]]] = [("neflag", {}), ("expected_gradients", {"references": x})]
    for method, extra in cases:
        with pytest.raises(ParameterError, match="'samples' must be an integer in"):
            xai_core.attribute(model, x, method, samples=0, **extra)
    with pytest.raises(ParameterError, match="'num_classes'"):
        xai_core.attribute(model, x, "agi", num_classes=0)


@pytest.mark.parametrize("method", ["agi", "big", "bsm", "neflag", "expected_gradients"])
def test_a_bad_target_fails_before_any_search(method: str) -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    extra: dict[str, Any] = {"references": x} if method == "expected_gradients" else {}
    with pytest.raises(ValueError, match="target classes"):
        xai_core.attribute(model, x, method, target=[0, 99], **extra)
