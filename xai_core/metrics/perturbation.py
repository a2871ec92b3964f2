"""The vectorised perturbation engine behind ``faithfulness``: the curves' settings (``CURVE_PARAMS``, declared once
here), substrates, ranked features, the perturbed images (``PerturbationPlan``) and their chunked scoring.

Every perturbed image of a curve is built vectorised: the features are ranked once per image (stable argsort,
descending), each step's mask is ``rank < count`` (no re-sorting per step), and a chunk of perturbed images
``[chunk, C, H, W]`` is materialised at a time and scored by one gradient-free forward under
``torch.inference_mode()``. Nothing here registers hooks or touches the model's state.

On CPU the images of a convolutional model are handed over in channels-last layout: oneDNN's NHWC kernels run the
forward of EfficientNet-Lite0 about 1.4x faster (16 images at 224: 620 -> 450 ms); the scores differ from NCHW by
float rounding only. A model that cannot take that layout (a ``view`` on its input, say) is scored in NCHW.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch import Tensor, nn

from xai_core.batching import (
    CPU_BUDGET_BYTES,
    CPU_CHUNK_CAP,
    GPU_BUDGET_FRACTION,
    GPU_CHUNK_CAP,
    chunks,
    sample_activation_bytes,
)
from xai_core.metrics.records import CurveResult, as_maps, trapezoid_auc
from xai_core.params import ChoiceParam, FloatParam, IntParam, validate
from xai_core.targets import Target, resolve_target

SUBSTRATES = ("blur", "black", "mean", "noise")
GRANULARITIES = ("pixel", "patch", "superpixel")
ORDERS = ("morf", "lerf")
CURVES = ("insertion", "deletion")
Progress = Callable[[float, np.ndarray], None]


class SubstrateParam(ChoiceParam):
    """A substrate name from ``SUBSTRATES``, or a custom tensor like the inputs (in the model's input space)."""

    def coerce(self, value: Any, method: str) -> Any:
        if isinstance(value, Tensor):
            return value
        return super().coerce(value, method)


# The settings of every perturbation curve, declared once (the engine, the app's form and the CLI read them).
STEPS = IntParam("steps", 100, "points on each curve: steps + 1 (RISE's step of H*W/steps pixels)", low=1, high=10000)
SUBSTRATE = SubstrateParam(
    "substrate", "blur",
    "what features are inserted into (insertion) or replaced by (deletion): the blurred image (RISE), black "
    "pixels, the per-channel mean, or noise with the image's per-channel mean and std (seeded)",
    choices=SUBSTRATES,
)  # fmt: skip
SIGMA = FloatParam("sigma", 5.0, "substrate=blur: Gaussian sigma in pixels (RISE's gkern(11, 5))", low=0.5, high=50.0)
OUTPUT = ChoiceParam(
    "output", "probability", "score the target's softmax probability or its logit", ("probability", "logit")
)
GRANULARITY = ChoiceParam(
    "granularity", "pixel",
    "features perturbed together: pixels, square patches (ranked by the map's sum) or SLIC superpixels (its mean)",
    choices=GRANULARITIES,
)  # fmt: skip
PATCH_SIZE = IntParam("patch_size", 8, "granularity=patch: side of the square patches in pixels", low=1, high=512)
N_SEGMENTS = IntParam(
    "n_segments", 100, "granularity=superpixel: approximate number of SLIC superpixels", low=2, high=5000
)
SEED = IntParam("seed", 0, "substrate=noise: seed of its generator", low=0, high=2**31 - 1)
CURVE_PARAMS = (STEPS, SUBSTRATE, SIGMA, OUTPUT, GRANULARITY, PATCH_SIZE, N_SEGMENTS, SEED)


def module_of(model: Any) -> nn.Module:
    """The ``nn.Module`` of a model wrapper (``.module``) or the module itself (as ``attribute`` unwraps)."""
    module = getattr(model, "module", model)
    if not isinstance(module, nn.Module):
        raise TypeError(f"model must be an nn.Module or a model wrapper from load_model; got {type(model).__name__}")
    return module


def inference_chunk_size(module: nn.Module, sample: Tensor) -> int:
    """Images per gradient-free forward: the activation budget without ``auto_chunk_size``'s backward factor.

    Under ``inference_mode`` an activation is freed once the next layer has consumed it, so the sum of all leaf
    outputs that ``sample_activation_bytes`` measures already over-estimates the peak; autograd's saved tensors
    and gradients (the 3x of a backward pass) do not exist. Each image also needs its perturbed copy and mask.
    The larger budget matters on a GPU; on a CPU the cap binds: forward-only batches of 224 images were fastest
    at about 8 (single thread: tiny CNN flat from 1 to 8, ResNet-18 and MobileNetV3-Small best at 8, all slower at
    16-32 as activations leave the cache), the same as ``batching.CPU_CHUNK_CAP``.
    """
    per_image = sample_activation_bytes(module, sample) + 2 * sample[:1].numel() * sample.element_size()
    if sample.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(sample.device)
        budget, cap = int(free * GPU_BUDGET_FRACTION), GPU_CHUNK_CAP
    else:
        budget, cap = CPU_BUDGET_BYTES, CPU_CHUNK_CAP
    return max(1, min(cap, budget // max(per_image, 1)))


def gaussian_kernel(sigma: float) -> np.ndarray:
    """RISE's ``gkern``: a Dirac delta of side ``2 * round(sigma) + 1`` smoothed by ``gaussian_filter(sigma)``.

    At ``sigma = 5`` this is RISE's ``gkern(11, 5)`` exactly (scipy's reflecting boundary keeps the sum at 1).
    """
    klen = 2 * round(sigma) + 1
    delta = np.zeros((klen, klen))
    delta[klen // 2, klen // 2] = 1.0
    return np.asarray(gaussian_filter(delta, sigma), dtype=np.float32)


def black_pixels(model: Any, x: Tensor) -> Tensor:
    """Black pixels in the model's input space: ``to_model_space(0)`` for a wrapper that has it, else 0."""
    to_model = getattr(model, "to_model_space", None)
    zeros = torch.zeros_like(x)
    return to_model(zeros).to(x) if callable(to_model) else zeros


@dataclass
class Run:
    """What every metric of one (model, inputs, maps, target) shares: the unperturbed scores are computed once."""

    model: Any
    module: nn.Module
    x: Tensor  # [B, C, H, W] on the model's device
    maps: Tensor  # [B, H, W] float32, resized to the input
    target: Target
    base: np.ndarray  # f(x) per image, float64 [B]
    chunk: int
    layout: torch.memory_format

    def score(self, images: Tensor, rows: Tensor) -> Tensor:
        """Target scores of ``images`` whose targets are those of batch rows ``rows``; one chunked forward each."""
        out = torch.empty(images.shape[0], dtype=torch.float64)
        with torch.inference_mode():
            for sl in chunks(images.shape[0], self.chunk):
                scorer = Target(self.target.classes[rows[sl]], self.target.output)
                out[sl] = scorer(self.module(images[sl].contiguous(memory_format=self.layout))).double().cpu()
        return out

    def logits(self, images: Tensor) -> Tensor:
        """Model outputs ``[N, K]`` of ``images``, chunked, without autograd."""
        return _logits(self.module, images, self.chunk, self.layout)

    def black(self) -> Tensor:
        return black_pixels(self.model, self.x)


def check_inputs(inputs: Any) -> None:
    if not isinstance(inputs, Tensor) or inputs.ndim != 4 or not inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a float tensor [batch, channels, height, width]; got {shape}")


def maps_like(saliency: Any, x: Tensor) -> Tensor:
    """The maps ``[B, H, W]`` (float32, on ``x``'s device) of ``saliency``, upsampled bilinearly to ``x``'s size."""
    maps = torch.from_numpy(as_maps(saliency)).float()
    if maps.shape[0] != x.shape[0]:
        raise ValueError(f"saliency has {maps.shape[0]} maps for a batch of {x.shape[0]} images")
    if tuple(maps.shape[1:]) != tuple(x.shape[2:]):  # e.g. low-resolution maps: upsample as CAMs are
        maps = F.interpolate(maps[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return maps.to(x.device)


def on_model_device(model: Any, inputs: Tensor) -> tuple[nn.Module, Tensor]:
    module = module_of(model)
    check_inputs(inputs)
    device = next((p.device for p in module.parameters()), inputs.device)
    return module, inputs.detach().to(device)


def setup(model: Any, inputs: Tensor, saliency: Any, target: Any, output: str, chunk_size: int | None) -> Run:
    module, x = on_model_device(model, inputs)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 or None; got {chunk_size}")
    if module.training:
        warnings.warn("the model is in training mode (dropout, batch statistics): scores will vary", stacklevel=3)
    maps = maps_like(saliency, x)
    chunk = chunk_size or inference_chunk_size(module, x)
    layout, logits = _first_forward(module, x, chunk)
    if target is None and isinstance(getattr(saliency, "target", None), Tensor):
        target = saliency.target  # an Attribution explains its own target
    tgt = resolve_target(target, x.shape[0], logits.argmax(dim=1), output)
    base = tgt(logits).double().cpu().numpy()
    return Run(model, module, x, maps, tgt, base, chunk, layout)


def _logits(module: nn.Module, x: Tensor, chunk: int, layout: torch.memory_format) -> Tensor:
    with torch.inference_mode():
        return torch.cat([module(x[sl].contiguous(memory_format=layout)) for sl in chunks(x.shape[0], chunk)])


def _first_forward(module: nn.Module, x: Tensor, chunk: int) -> tuple[torch.memory_format, Tensor]:
    """The layout the curves are scored in (see the module notes) and the logits of ``x`` in it."""
    if x.device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in module.modules()):
        try:
            return torch.channels_last, _logits(module, x, chunk, torch.channels_last)
        except RuntimeError:  # e.g. "view size is not compatible with input tensor's size and stride"
            pass
    return torch.contiguous_format, _logits(module, x, chunk, torch.contiguous_format)


def make_substrate(model: Any, x: Tensor, substrate: str | Tensor, sigma: float, seed: int) -> Tensor:
    """The fully perturbed images ``[B, C, H, W]`` in the model's input space (see ``SUBSTRATE``)."""
    if isinstance(substrate, Tensor):
        return substrate.detach().to(x).expand_as(x)
    if substrate == "blur":
        kernel = torch.from_numpy(gaussian_kernel(sigma)).to(x)
        weight = kernel.expand(x.shape[1], 1, *kernel.shape)
        # Zero padding, as RISE's conv2d(x, kern, padding=klen // 2): borders fade towards 0 in the input space.
        return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, groups=x.shape[1])
    if substrate == "black":
        return black_pixels(model, x)
    if substrate == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    if substrate == "noise":  # Gaussian with each image's per-channel mean and std, from a seeded generator
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
        return x.mean(dim=(2, 3), keepdim=True) + x.std(dim=(2, 3), keepdim=True) * z
    raise ValueError(f"substrate must be one of {list(SUBSTRATES)} or a tensor; got {substrate!r}")


def display_images(model: Any, x: Tensor) -> np.ndarray:
    """``[B, H, W, C]`` image for SLIC: the wrapper's ``to_display`` if any, else each image min-max scaled."""
    to_display = getattr(model, "to_display", None)
    if callable(to_display):
        shown = np.asarray(to_display(x))
        return shown[None] if shown.ndim == 3 else shown
    pixels = x.detach().double().cpu()
    lo, hi = pixels.amin(dim=(1, 2, 3), keepdim=True), pixels.amax(dim=(1, 2, 3), keepdim=True)
    return ((pixels - lo) / (hi - lo).clamp_min(1e-12)).permute(0, 2, 3, 1).numpy()


def features(
    model: Any, x: Tensor, maps: Tensor, granularity: str, patch_size: int, n_segments: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Feature id per pixel ``[B, HW]``, importance per feature ``[B, N]`` (``-inf`` padding), count ``[B]``."""
    b, h, w = maps.shape
    flat = maps.reshape(b, -1).double()
    device = flat.device
    if granularity == "pixel":
        labels = torch.arange(h * w, device=device).expand(b, -1)
        return labels, flat, torch.full((b,), h * w, dtype=torch.long)
    if granularity == "patch":
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        n_cols = -(-w // patch_size)
        labels = ((rows // patch_size) * n_cols + cols // patch_size).reshape(1, -1).expand(b, -1).to(device)
        n = -(-h // patch_size) * n_cols
        importance = torch.zeros(b, n, dtype=torch.float64, device=device).scatter_add_(1, labels, flat)
        return labels, importance, torch.full((b,), n, dtype=torch.long)
    if granularity == "superpixel":
        from skimage.segmentation import slic  # imported here: scikit-image is only needed for superpixels

        segs = []
        for img in display_images(model, x):
            seg = slic(img, n_segments=n_segments, start_label=0, channel_axis=-1, convert2lab=img.shape[-1] == 3)
            segs.append(np.unique(seg, return_inverse=True)[1].reshape(-1))  # contiguous ids 0..N-1
        labels = torch.from_numpy(np.stack(segs)).long().to(device)
        counts = torch.tensor([int(s.max()) + 1 for s in segs], dtype=torch.long)
        n = int(counts.max())
        sums = torch.zeros(b, n, dtype=torch.float64, device=device).scatter_add_(1, labels, flat)
        sizes = torch.zeros(b, n, dtype=torch.float64, device=device).scatter_add_(1, labels, torch.ones_like(flat))
        importance = torch.where(sizes > 0, sums / sizes.clamp_min(1), torch.tensor(-torch.inf, device=device))
        return labels, importance, counts
    raise ValueError(f"granularity must be one of {list(GRANULARITIES)}; got {granularity!r}")


def pixel_rank(labels: Tensor, importance: Tensor, order: str, shape: torch.Size) -> Tensor:
    """Each pixel's position in the perturbation order ``[B, H, W]``: ranked once, never re-sorted per step."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}; got {order!r}")
    key = importance if order == "morf" else torch.where(importance.isinf(), importance, -importance)
    ranking = torch.argsort(key, dim=1, descending=True, stable=True)
    rank = torch.empty_like(ranking).scatter_(
        1, ranking, torch.arange(ranking.shape[1], device=ranking.device).expand_as(ranking)
    )
    return rank.gather(1, labels).reshape(shape)


def step_counts(n: Tensor, steps: int) -> Tensor:
    """Features perturbed at each point ``[B, steps + 1]``: ``round(k * N / steps)``, half up, in integers."""
    k = torch.arange(steps + 1)
    return (2 * k[None] * n[:, None] + steps) // (2 * steps)


@dataclass(frozen=True)
class PerturbationPlan:
    """The perturbed images of the insertion and deletion curves of one (model, inputs, maps), unscored.

    Built by ``perturbation_plan`` (no forward pass); the curve metrics score exactly these images, and the app's
    step viewer shows them. Point ``k`` of a curve has ``counts[:, k]`` features taken from the image (insertion,
    onto the substrate) or from the substrate (deletion, onto the image), most relevant first (``order="morf"``).
    """

    x: Tensor  # [B, C, H, W] on the model's device
    substrate: Tensor  # [B, C, H, W]
    labels: Tensor  # feature id per pixel [B, HW]
    importance: Tensor  # per feature [B, N] (-inf padding)
    n: Tensor  # features per image [B]
    steps: int
    settings: dict[str, Any]  # the resolved settings, with a custom substrate as "custom"

    @property
    def counts(self) -> Tensor:
        """Features perturbed at each point, ``[B, steps + 1]``."""
        return step_counts(self.n, self.steps)

    def rank(self, order: str = "morf") -> Tensor:
        """Each pixel's position in the perturbation order, ``[B, H, W]``."""
        return pixel_rank(self.labels, self.importance, order, self.x.shape[:1] + self.x.shape[2:])

    def endpoints(self, curve: str) -> tuple[Tensor, Tensor]:
        """``(start, finish)``: the images at point 0 and at the last point of ``curve``."""
        if curve not in CURVES:
            raise ValueError(f"curve must be one of {list(CURVES)}; got {curve!r}")
        return (self.substrate, self.x) if curve == "insertion" else (self.x, self.substrate)

    def images(self, curve: str, k: int, order: str = "morf") -> Tensor:
        """The images scored at point ``k`` (``0 <= k <= steps``) of ``curve``, ``[B, C, H, W]``."""
        if not 0 <= k <= self.steps:
            raise ValueError(f"k must be in [0, {self.steps}]; got {k}")
        start, finish = self.endpoints(curve)
        moved = self.rank(order) < self.counts[:, k].to(self.x.device).view(-1, 1, 1)
        return torch.where(moved.unsqueeze(1), finish, start)


def build_plan(model: Any, x: Tensor, maps: Tensor, settings: dict[str, Any]) -> PerturbationPlan:
    s = settings
    substrate = make_substrate(model, x, s["substrate"], s["sigma"], s["seed"])
    labels, importance, n = features(model, x, maps, s["granularity"], s["patch_size"], s["n_segments"])
    recorded = {**s, "substrate": s["substrate"] if isinstance(s["substrate"], str) else "custom"}
    return PerturbationPlan(x, substrate, labels, importance, n, s["steps"], recorded)


def perturbation_plan(model: Any, inputs: Tensor, saliency: Any, **settings: Any) -> PerturbationPlan:
    """The perturbed images of the curves for ``saliency`` (maps or an ``Attribution``), without scoring them.

    ``settings`` are the curves' (``CURVE_PARAMS``: steps, substrate, granularity, ...), validated the same way.
    """
    resolved = validate(CURVE_PARAMS, settings, "perturbation_plan")
    _, x = on_model_device(model, inputs)
    return build_plan(model, x, maps_like(saliency, x), resolved)


def score_curve(
    run: Run, plan: PerturbationPlan, name: str, curve: str, order: str, progress: Progress | None
) -> CurveResult:
    """Scores of ``plan``'s images at every point of ``curve``: one chunked forward over all of them."""
    start, finish = plan.endpoints(curve)
    rank, counts, steps = plan.rank(order), plan.counts, plan.steps
    b = start.shape[0]
    dev_counts = counts.to(start.device)
    scores = np.full((b, steps + 1), np.nan)
    rows, cols = torch.arange(b).repeat_interleave(steps + 1), torch.arange(steps + 1).repeat(b)  # image-major
    total = rows.numel()
    with torch.inference_mode():
        for sl in chunks(total, run.chunk):
            r, c = rows[sl].to(start.device), cols[sl].to(start.device)
            mask = (rank[r] < dev_counts[r, c].view(-1, 1, 1)).unsqueeze(1)
            src, dst = (finish, start) if b == 1 else (finish[r], start[r])  # one image broadcasts: no gather
            values = run.score(torch.where(mask, src, dst), rows[sl])
            scores[rows[sl].numpy(), cols[sl].numpy()] = values.numpy()
            if progress is not None:
                progress(sl.stop / total, scores.copy())
    fractions = np.arange(steps + 1, dtype=np.float64) / steps
    return CurveResult(
        name=name,
        fractions=fractions,
        scores=scores,
        auc=trapezoid_auc(fractions, scores),
        higher_is_better=curve == "insertion" or order == "lerf",
        counts=counts.numpy(),
        settings={**plan.settings, "order": order},
    )


class Curves:
    """The shared preparation of every curve on one (model, inputs, maps): run, substrate, ranked features."""

    def __init__(self, model: Any, inputs: Tensor, saliency: Any, target: Any, chunk_size: int | None, **s: Any):
        self.run = setup(model, inputs, saliency, target, s["output"], chunk_size)
        self.plan = build_plan(model, self.run.x, self.run.maps, s)

    def curve(self, curve: str, order: str, progress: Progress | None) -> CurveResult:
        name = curve if order == "morf" else f"{curve}_{order}"
        return score_curve(self.run, self.plan, name, curve, order, progress)
