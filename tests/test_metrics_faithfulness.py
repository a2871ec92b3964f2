"""Faithfulness metrics: truth by construction, the literal RISE loop as oracle, hand-computed AD/IC/ADD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import Tensor, nn
from toys import relu_cnn

import xai_core
from xai_core import metrics

SIZE = 16
BOX = (6, 4, 12, 8)  # (x0, y0, x1, y1): columns 6..11, rows 4..7


class BoxModel(nn.Module):
    """logit_0 = 10 * mean of the pixels in BOX (all channels), logit_1 = 0: only that region matters."""

    def __init__(self, box: tuple[int, int, int, int] = BOX) -> None:
        super().__init__()
        self.box = box
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        x0, y0, x1, y1 = self.box
        logit = 10.0 * x[:, :, y0:y1, x0:x1].mean(dim=(1, 2, 3))
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


class ConstantModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return torch.tensor([[1.0, -1.0, 0.5]]).expand(x.shape[0], -1) + 0.0 * x.sum()


def box_images(batch: int = 2) -> Tensor:
    """Bright box on a dark, slightly noisy background (so SLIC finds the box)."""
    g = torch.Generator().manual_seed(3)
    x = 0.1 * torch.rand(batch, 3, SIZE, SIZE, generator=g)
    x0, y0, x1, y1 = BOX
    x[:, :, y0:y1, x0:x1] = 0.8 + 0.2 * torch.rand(batch, 3, y1 - y0, x1 - x0, generator=g)
    return x


def oracle_maps(batch: int = 2) -> np.ndarray:
    maps = np.zeros((batch, SIZE, SIZE), dtype=np.float32)
    x0, y0, x1, y1 = BOX
    maps[:, y0:y1, x0:x1] = 1.0
    return maps


def random_maps(batch: int = 2, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, SIZE, SIZE)).astype(np.float32)


# --- truth by construction ---------------------------------------------------------------------------------------


def test_deletion_drops_when_the_box_is_removed_and_the_oracle_beats_a_random_map() -> None:
    model, x = BoxModel().eval(), box_images()
    common = {"steps": 32, "substrate": "black"}
    ins_oracle = metrics.insertion(model, x, oracle_maps(), **common)
    del_oracle = metrics.deletion(model, x, oracle_maps(), **common)
    ins_random = metrics.insertion(model, x, random_maps(), **common)
    del_random = metrics.deletion(model, x, random_maps(), **common)
    # The box has 24 pixels = 3 steps of 8: after them the oracle's deletion image carries no signal (p = 1/2).
    np.testing.assert_allclose(del_oracle.scores[:, 3:], 0.5, atol=1e-6)
    assert (del_oracle.scores[:, 0] > 0.99).all()
    np.testing.assert_allclose(ins_oracle.scores[:, 3:] - ins_oracle.scores[:, -1:], 0.0, atol=1e-6)
    assert (ins_oracle.auc > ins_random.auc).all() and (del_oracle.auc < del_random.auc).all()
    assert ins_oracle.higher_is_better and not del_oracle.higher_is_better
    assert ins_oracle.name == "insertion" and del_oracle.name == "deletion"
    np.testing.assert_array_equal(del_oracle.fractions, np.arange(33) / 32)
    np.testing.assert_array_equal(del_oracle.counts[0], np.arange(33) * 8)


def test_constant_model_gives_flat_curves() -> None:
    x = box_images()
    for fn in (metrics.insertion, metrics.deletion):
        curve = fn(ConstantModel(), x, random_maps(), steps=10, target=0)
        np.testing.assert_allclose(curve.scores, curve.scores[0, 0], rtol=0, atol=1e-7)
        np.testing.assert_allclose(curve.auc, curve.scores[0, 0], atol=1e-7)


@pytest.mark.parametrize(("granularity", "extra"), [("patch", {"patch_size": 4}), ("superpixel", {"n_segments": 12})])
def test_patch_and_superpixel_curves_are_monotone_for_the_oracle(granularity: str, extra: dict) -> None:
    model, x = BoxModel().eval(), box_images()
    common = {"steps": 8, "substrate": "black", "granularity": granularity, **extra}
    ins = metrics.insertion(model, x, oracle_maps(), **common)
    dele = metrics.deletion(model, x, oracle_maps(), **common)
    assert (np.diff(ins.scores, axis=1) >= -1e-7).all() and (np.diff(dele.scores, axis=1) <= 1e-7).all()
    assert (ins.counts[:, -1] == ins.counts[:, -1].max()).all() or granularity == "superpixel"
    rand_del = metrics.deletion(model, x, random_maps(), **common)
    assert (dele.auc <= rand_del.auc + 1e-9).all()
    if granularity == "patch":  # 4x4 patches: the box is columns 6..11 -> patches overlap it partially
        np.testing.assert_array_equal(ins.counts[0], [0, 2, 4, 6, 8, 10, 12, 14, 16])


def test_aopc_and_abpc_relations_on_the_oracle() -> None:
    model, x = BoxModel().eval(), box_images()
    common = {"steps": 32, "substrate": "black"}
    report = metrics.faithfulness_report(model, x, oracle_maps(), **common)
    morf, lerf = report["aopc_morf"], report["aopc_lerf"]
    assert report["abpc"].value > 0 and report["abpc"].higher_is_better
    assert morf.higher_is_better and not lerf.higher_is_better
    assert morf.value > lerf.value
    curve = morf.curves[0]
    expected = (curve.scores[:, :1] - curve.scores).sum(axis=1) / 33  # Samek et al. eq. (12), L = 32
    np.testing.assert_allclose(morf.per_image, expected, rtol=1e-12)
    np.testing.assert_allclose(report["abpc"].per_image, lerf.curves[0].auc - curve.auc, rtol=1e-12)
    random = metrics.aopc(model, x, random_maps(), **common)
    assert morf.value > random.value
    # Shared work: the MoRF deletion curve is one object in three records.
    assert (
        report["deletion"] is curve and report["abpc"].curves[0] is curve and report["abpc"].curves[1] is lerf.curves[0]
    )
    np.testing.assert_allclose(metrics.deletion(model, x, oracle_maps(), **common).scores, curve.scores, atol=1e-7)
    lerf_curve = metrics.deletion(model, x, oracle_maps(), order="lerf", **common)
    assert lerf_curve.name == "deletion_lerf" and lerf_curve.higher_is_better
    np.testing.assert_allclose(lerf_curve.scores, lerf.curves[0].scores, atol=1e-7)


# --- the literal RISE CausalMetric loop (eclique/RISE evaluation.py) as the reference ----------------------------


def gkern(klen: int, nsig: float) -> Tensor:
    inp = np.zeros((klen, klen))
    inp[klen // 2, klen // 2] = 1
    k = gaussian_filter(inp, nsig)
    kern = np.zeros((3, 3, klen, klen))
    kern[0, 0] = k
    kern[1, 1] = k
    kern[2, 2] = k
    return torch.from_numpy(kern.astype("float32"))


def rise_auc(arr: np.ndarray) -> float:
    return float((arr.sum() - arr[0] / 2 - arr[-1] / 2) / (arr.shape[0] - 1))


def rise_single_run(model: nn.Module, img: Tensor, explanation: np.ndarray, mode: str, step: int) -> np.ndarray:
    """RISE's ``CausalMetric.single_run`` with its blur substrate, one image, line for line (CPU)."""
    hw = img.shape[2] * img.shape[3]
    klen, ksig = 11, 5
    kern = gkern(klen, ksig)
    substrate_fn = lambda t: nn.functional.conv2d(t, kern, padding=klen // 2)  # noqa: E731
    with torch.no_grad():
        pred = model(img)
        _top, c = torch.max(pred, 1)
        c = c.numpy()[0]
        n_steps = (hw + step - 1) // step
        if mode == "del":
            start, finish = img.clone(), substrate_fn(img)
        else:
            start, finish = substrate_fn(img), img.clone()
        scores = np.empty(n_steps + 1)
        salient_order = np.flip(np.argsort(explanation.reshape(-1, hw), axis=1), axis=-1)
        for i in range(n_steps + 1):
            pred = model(start)
            scores[i] = pred[0, c]
            if i < n_steps:
                coords = salient_order[:, step * i : step * (i + 1)]
                start.numpy().reshape(1, 3, hw)[0, :, coords] = finish.numpy().reshape(1, 3, hw)[0, :, coords]
    return scores


@pytest.mark.parametrize("step", [16, 64])
def test_vectorised_curves_equal_the_literal_rise_loop(step: int) -> None:
    model = relu_cnn(classes=4)
    softmax_model = nn.Sequential(model, nn.Softmax(dim=1))  # RISE scores probabilities this way
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    maps = random_maps(seed=11)  # continuous: no ties, so the order is the same as RISE's flipped argsort
    steps = SIZE * SIZE // step  # the same per-step pixel counts as RISE's `step`
    for fn, mode in ((metrics.insertion, "ins"), (metrics.deletion, "del")):
        ours = fn(model, x, maps, steps=steps, substrate="blur", sigma=5.0, chunk_size=7)  # ragged chunks
        for b in range(2):
            ref = rise_single_run(softmax_model, x[b : b + 1].clone(), maps[b], mode, step)
            np.testing.assert_allclose(ours.scores[b], ref, rtol=0, atol=1e-5)
            assert abs(ours.auc[b] - rise_auc(ref)) < 1e-5


def test_blur_kernel_is_rises_gkern() -> None:
    np.testing.assert_array_equal(metrics.gaussian_kernel(5.0), gkern(11, 5)[0, 0].numpy())


# --- chunking, progress, inputs ----------------------------------------------------------------------------------


def test_chunk_size_does_not_change_the_curve_and_progress_reports_the_growing_curve() -> None:
    model, x = relu_cnn(), torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    calls: list[tuple[float, np.ndarray]] = []
    auto = metrics.deletion(model, x, random_maps(), steps=20)
    small = metrics.deletion(
        model, x, random_maps(), steps=20, chunk_size=5, progress=lambda f, s: calls.append((f, s))
    )
    np.testing.assert_allclose(auto.scores, small.scores, atol=1e-6)
    fractions = [f for f, _ in calls]
    assert len(calls) == math.ceil(2 * 21 / 5) and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert np.isnan(calls[0][1]).sum() == 2 * 21 - 5 and not np.isnan(calls[0][1][0, :5]).any()
    np.testing.assert_array_equal(calls[-1][1], small.scores)


def test_report_progress_covers_the_three_curves() -> None:
    seen: list[float] = []
    metrics.faithfulness_report(
        relu_cnn(), box_images(1), random_maps(1), steps=10, progress=lambda f, _s: seen.append(f)
    )
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and any(0.3 < f < 0.4 for f in seen)


def test_attribution_input_uses_its_maps_and_its_target() -> None:
    model, x = relu_cnn(), box_images()
    result = xai_core.attribute(model, x, "saliency", target=[1, 2])
    curve = metrics.insertion(model, x, result, steps=8)
    by_hand = metrics.insertion(model, x, result.to_maps(), steps=8, target=[1, 2])
    np.testing.assert_allclose(curve.scores, by_hand.scores, atol=1e-7)


class Wrapper:
    """A model wrapper as load_model returns: ``.module`` and a pixel -> model space normalisation."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def to_model_space(self, pixels: Tensor) -> Tensor:
        return (pixels - 0.5) / 0.25

    def to_display(self, x: Tensor) -> np.ndarray:
        pixels = (x * 0.25 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        return np.round(pixels * 255).astype(np.uint8)


def test_black_substrate_is_black_in_pixel_space_for_a_wrapper() -> None:
    model, x = BoxModel().eval(), box_images()
    ours = metrics.insertion(Wrapper(model), x, oracle_maps(), steps=4, substrate="black", output="logit")
    # At step 0 the image is all black pixels, i.e. -2 in model space: logit = 10 * -2.
    np.testing.assert_allclose(ours.scores[:, 0], -20.0, atol=1e-5)
    plain = metrics.insertion(model, x, oracle_maps(), steps=4, substrate="black", output="logit")
    np.testing.assert_allclose(plain.scores[:, 0], 0.0, atol=1e-6)
    # Superpixels are found on the wrapper's displayed image.
    wrapped = Wrapper(model).to_model_space(x)
    sp = metrics.deletion(Wrapper(model), wrapped, oracle_maps(), steps=4, granularity="superpixel", n_segments=12)
    assert sp.scores.shape == (2, 5) and (np.diff(sp.scores, axis=1) <= 1e-7).all()


def test_metrics_never_import_methods() -> None:
    import ast
    from pathlib import Path

    for path in (Path(metrics.__file__).parent).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith(("xai_core.methods", "xai_core.attribution")) for n in names), path


@pytest.mark.parametrize("substrate", ["mean", "noise", "blur"])
def test_other_substrates_start_and_end_where_they_should(substrate: str) -> None:
    model, x = relu_cnn(), box_images()
    ins = metrics.insertion(model, x, random_maps(), steps=4, substrate=substrate, seed=3)
    dele = metrics.deletion(model, x, random_maps(), steps=4, substrate=substrate, seed=3)
    np.testing.assert_allclose(ins.scores[:, 0], dele.scores[:, -1], atol=1e-6)  # both the pure substrate
    np.testing.assert_allclose(ins.scores[:, -1], dele.scores[:, 0], atol=1e-6)  # both the image
    again = metrics.insertion(model, x, random_maps(), steps=4, substrate=substrate, seed=3)
    np.testing.assert_array_equal(ins.scores, again.scores)


def test_low_resolution_maps_are_upsampled() -> None:
    small = np.zeros((2, 4, 4), dtype=np.float32)
    small[:, 1:2, 1:3] = 1.0
    curve = metrics.deletion(BoxModel(), box_images(), small, steps=8, substrate="black")
    assert curve.scores.shape == (2, 9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"substrate": "white"}, r"'substrate' must be one of \['blur', 'black', 'mean', 'noise'\]; got 'white'"),
        ({"granularity": "region"}, r"'granularity' must be one of \['pixel', 'patch', 'superpixel'\]; got 'region'"),
        ({"steps": 0}, r"insertion: parameter 'steps' must be an integer in \[1, 10000\]; got 0"),
        ({"sigma": 0.0}, r"insertion: parameter 'sigma' must be a finite number in \[0.5, 50.0\]; got 0.0"),
        ({"output": "softmax"}, r"parameter 'output' must be one of \['probability', 'logit'\]; got 'softmax'"),
        ({"stpes": 10}, r"insertion: unknown parameter\(s\) \['stpes'\]"),
    ],
)  # fmt: skip
def test_bad_settings_are_parameter_errors_naming_the_setting_range_and_value(kwargs: dict, message: str) -> None:
    with pytest.raises(xai_core.ParameterError, match=message):
        metrics.insertion(BoxModel(), box_images(), oracle_maps(), **kwargs)


def test_bad_run_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"chunk_size must be at least 1 or None; got 0"):
        metrics.insertion(BoxModel(), box_images(), oracle_maps(), chunk_size=0)
    with pytest.raises(ValueError, match=r"order must be one of \['morf', 'lerf'\]; got 'up'"):
        metrics.deletion(BoxModel(), box_images(), oracle_maps(), order="up")


def test_map_batch_must_match() -> None:
    with pytest.raises(ValueError, match="saliency has 1 maps for a batch of 2 images"):
        metrics.deletion(BoxModel(), box_images(), oracle_maps(1))
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.deletion(BoxModel(), box_images(), np.full((2, SIZE, SIZE), np.nan))


# --- Average Drop, Increase in Confidence, Average Drop in Deletion: a hand-computed 2x2 case ------------------


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_average_drop_increase_in_confidence_and_add_by_hand() -> None:
    model = BoxModel(box=(0, 0, 2, 2))  # the whole 2x2 image: logit_0 = 10 * mean, p_0 = sigmoid(logit_0)
    x = torch.stack([torch.full((1, 2, 2), 0.3), torch.full((1, 2, 2), -0.3)])
    maps = np.array([[[1.0, 0.0], [0.0, 0.0]], [[3.0, 1.0], [1.0, 1.0]]])  # min-max -> [[1, 0], [0, 0]] for both
    # kept = a * x has mean +-0.3/4, removed = (1 - a) * x has mean +-0.3*3/4; logits are 10x those.
    y = [sigmoid(3.0), sigmoid(-3.0)]
    o = [sigmoid(0.75), sigmoid(-0.75)]
    d = [sigmoid(2.25), sigmoid(-2.25)]
    ad = [max(0.0, y[i] - o[i]) / y[i] * 100 for i in range(2)]
    add = [(y[i] - d[i]) / y[i] * 100 for i in range(2)]
    result = metrics.average_drop(model, x, maps, target=0)
    np.testing.assert_allclose(result.per_image, ad, rtol=1e-6)
    assert result.value == pytest.approx(np.mean(ad), rel=1e-6) and not result.higher_is_better and result.unit == "%"
    ic = metrics.increase_in_confidence(model, x, maps, target=0)
    np.testing.assert_array_equal(ic.per_image, [0.0, 100.0])
    assert ic.value == 50.0 and ic.higher_is_better
    dd = metrics.average_drop_in_deletion(model, x, maps, target=0)
    np.testing.assert_allclose(dd.per_image, add, rtol=1e-6)
    assert dd.value == pytest.approx(np.mean(add), rel=1e-6) and dd.higher_is_better
    report = metrics.faithfulness_report(model, x, maps, target=0, steps=4, substrate="black")
    assert report["average_drop"].value == pytest.approx(result.value, rel=1e-9)
    assert report["average_drop_in_deletion"].value == pytest.approx(dd.value, rel=1e-9)
    assert report["increase_in_confidence"].value == 50.0


def test_average_drop_refuses_non_positive_scores() -> None:
    x = -torch.ones(1, 1, 2, 2)
    with pytest.raises(ValueError, match="must be positive; use output='probability'"):
        metrics.average_drop(BoxModel(box=(0, 0, 2, 2)), x, np.ones((1, 2, 2)), target=0, output="logit")


def test_records_are_frozen_and_read_only() -> None:
    curve = metrics.insertion(BoxModel(), box_images(), oracle_maps(), steps=4)
    with pytest.raises(AttributeError):
        curve.auc = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        curve.scores[0, 0] = 1.0


class _FlattensWithView(nn.Module):
    """A conv net whose head uses ``view``: it cannot take channels-last input, so curves must fall back to NCHW."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * SIZE * SIZE, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.relu(self.conv(x)).view(x.shape[0], -1))


def test_curves_score_conv_nets_channels_last_and_fall_back_to_nchw() -> None:
    from xai_core.metrics import perturbation

    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    maps = np.random.default_rng(4).random((2, SIZE, SIZE))
    picky = _FlattensWithView().eval()
    with pytest.raises(RuntimeError, match="view"):
        picky(x.contiguous(memory_format=torch.channels_last))  # the premise: this model refuses NHWC
    common = {"target": [0, 1], "steps": 8, "substrate": "black", "output": "logit", "chunk_size": None}
    assert perturbation.setup(picky, x, maps, [0, 1], "logit", None).layout == torch.contiguous_format
    assert perturbation.setup(relu_cnn(), x, maps, [0, 1], "logit", None).layout == torch.channels_last
    curve = metrics.deletion(picky, x, maps, **common)
    expected = []  # the same deletion, one NCHW forward per step
    for b in range(2):
        order = np.argsort(-maps[b].ravel(), kind="stable")
        row = []
        for k in range(9):
            keep = torch.ones(SIZE * SIZE)
            keep[torch.from_numpy(order[: round(k * SIZE * SIZE / 8)].copy())] = 0
            with torch.no_grad():
                row.append(float(picky(x[b : b + 1] * keep.view(1, 1, SIZE, SIZE))[0, b]))
        expected.append(row)
    np.testing.assert_allclose(curve.scores, expected, rtol=0, atol=1e-5)


# --- the perturbed images themselves (the app's step viewer shows them) -------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "substrate", "curve"),
    [("pixel", "blur", "insertion"), ("patch", "black", "deletion"), ("superpixel", "noise", "insertion"),
     ("patch", "mean", "deletion")],
)  # fmt: skip
def test_the_plans_images_are_the_ones_the_curves_score(granularity: str, substrate: str, curve: str) -> None:
    model = xai_core.load_model()
    x = model.preprocess(xai_core.load_sample("chelsea").image)
    saliency = np.random.default_rng(0).random((224, 224)).astype(np.float32)
    settings = {"steps": 3, "substrate": substrate, "granularity": granularity, "patch_size": 16, "n_segments": 40}
    metric = metrics.insertion if curve == "insertion" else metrics.deletion
    result = metric(model, x, saliency, target=282, **settings)
    plan = metrics.perturbation_plan(model, x, saliency, **settings)
    images = torch.cat([plan.images(curve, k) for k in range(4)])
    with torch.inference_mode():
        scores = model.module(images).softmax(dim=1)[:, 282].double().numpy()
    np.testing.assert_allclose(scores, result.scores[0], atol=1e-5)
    assert plan.counts.tolist() == result.counts.tolist() and plan.settings["substrate"] == substrate
    start, finish = plan.endpoints(curve)
    torch.testing.assert_close(plan.images(curve, 0), start)
    torch.testing.assert_close(plan.images(curve, 3), finish)


def test_a_plan_validates_its_settings_and_steps() -> None:
    plan = metrics.perturbation_plan(BoxModel(), box_images(), oracle_maps(), steps=4, substrate="black")
    assert plan.counts.tolist() == [[0, 64, 128, 192, 256]] * 2 and plan.n.tolist() == [256, 256]
    # the oracle map's box (48 pixels) comes first: after one step of 64 pixels it is all inserted
    inserted = plan.images("insertion", 1)
    x0, y0, x1, y1 = BOX
    torch.testing.assert_close(inserted[:, :, y0:y1, x0:x1], box_images()[:, :, y0:y1, x0:x1])
    with pytest.raises(ValueError, match=r"k must be in \[0, 4\]; got 5"):
        plan.images("insertion", 5)
    with pytest.raises(ValueError, match=r"curve must be one of \['insertion', 'deletion'\]; got 'flip'"):
        plan.images("flip", 1)
    with pytest.raises(xai_core.ParameterError, match=r"perturbation_plan: parameter 'patch_size' must be"):
        metrics.perturbation_plan(BoxModel(), box_images(), oracle_maps(), patch_size=0)
