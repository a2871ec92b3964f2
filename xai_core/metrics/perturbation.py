"""The vectorised perturbation engine behind ``faithfulness``: substrates, ranked features, chunked scoring.

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
from xai_core.targets import Target, resolve_target

SUBSTRATES = ("blur", "black", "mean", "noise")
GRANULARITIES = ("pixel", "patch", "superpixel")
ORDERS = ("morf", "lerf")
Progress = Callable[[float, np.ndarray], None]


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

    def black(self) -> Tensor:
        """Black pixels in the model's input space: ``to_model_space(0)`` for a wrapper that has it, else 0."""
        to_model = getattr(self.model, "to_model_space", None)
        zeros = torch.zeros_like(self.x)
        return to_model(zeros).to(self.x) if callable(to_model) else zeros


def setup(model: Any, inputs: Tensor, saliency: Any, target: Any, output: str, chunk_size: int | None) -> Run:
    module = module_of(model)
    if not isinstance(inputs, Tensor) or inputs.ndim != 4 or not inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a float tensor [batch, channels, height, width]; got {shape}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 or None; got {chunk_size}")
    if module.training:
        warnings.warn("the model is in training mode (dropout, batch statistics): scores will vary", stacklevel=3)
    device = next((p.device for p in module.parameters()), inputs.device)
    x = inputs.detach().to(device)
    maps = torch.from_numpy(as_maps(saliency)).float()
    if maps.shape[0] != x.shape[0]:
        raise ValueError(f"saliency has {maps.shape[0]} maps for a batch of {x.shape[0]} images")
    if tuple(maps.shape[1:]) != tuple(x.shape[2:]):  # e.g. low-resolution maps: upsample as CAMs are
        maps = F.interpolate(maps[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    chunk = chunk_size or inference_chunk_size(module, x)
    layout, logits = _first_forward(module, x, chunk)
    if target is None and isinstance(getattr(saliency, "target", None), Tensor):
        target = saliency.target  # an Attribution explains its own target
    tgt = resolve_target(target, x.shape[0], logits.argmax(dim=1), output)
    base = tgt(logits).double().cpu().numpy()
    return Run(model, module, x, maps.to(device), tgt, base, chunk, layout)


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


def make_substrate(run: Run, substrate: str | Tensor, sigma: float, seed: int) -> Tensor:
    x = run.x
    if isinstance(substrate, Tensor):
        return substrate.detach().to(x).expand_as(x)
    if substrate == "blur":
        if not sigma > 0:
            raise ValueError(f"sigma must be positive for substrate='blur'; got {sigma}")
        kernel = torch.from_numpy(gaussian_kernel(sigma)).to(x)
        weight = kernel.expand(x.shape[1], 1, *kernel.shape)
        # Zero padding, as RISE's conv2d(x, kern, padding=klen // 2): borders fade towards 0 in the input space.
        return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, groups=x.shape[1])
    if substrate == "black":
        return run.black()
    if substrate == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    if substrate == "noise":  # Gaussian with each image's per-channel mean and std, from a seeded generator
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
        return x.mean(dim=(2, 3), keepdim=True) + x.std(dim=(2, 3), keepdim=True) * z
    raise ValueError(f"substrate must be one of {list(SUBSTRATES)} or a tensor; got {substrate!r}")


def display_images(run: Run) -> np.ndarray:
    """``[B, H, W, C]`` image for SLIC: the wrapper's ``to_display`` if any, else each image min-max scaled."""
    to_display = getattr(run.model, "to_display", None)
    if callable(to_display):
        shown = np.asarray(to_display(run.x))
        return shown[None] if shown.ndim == 3 else shown
    x = run.x.detach().double().cpu()
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    return ((x - lo) / (hi - lo).clamp_min(1e-12)).permute(0, 2, 3, 1).numpy()


def features(run: Run, granularity: str, patch_size: int, n_segments: int) -> tuple[Tensor, Tensor, Tensor]:
    """Feature id per pixel ``[B, HW]``, importance per feature ``[B, N]`` (``-inf`` padding), count ``[B]``."""
    b, h, w = run.maps.shape
    flat = run.maps.reshape(b, -1).double()
    device = flat.device
    if granularity == "pixel":
        labels = torch.arange(h * w, device=device).expand(b, -1)
        return labels, flat, torch.full((b,), h * w, dtype=torch.long)
    if granularity == "patch":
        if patch_size < 1:
            raise ValueError(f"patch_size must be at least 1; got {patch_size}")
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        n_cols = -(-w // patch_size)
        labels = ((rows // patch_size) * n_cols + cols // patch_size).reshape(1, -1).expand(b, -1).to(device)
        n = -(-h // patch_size) * n_cols
        importance = torch.zeros(b, n, dtype=torch.float64, device=device).scatter_add_(1, labels, flat)
        return labels, importance, torch.full((b,), n, dtype=torch.long)
    if granularity == "superpixel":
        from skimage.segmentation import slic  # imported here: scikit-image is only needed for superpixels

        if n_segments < 1:
            raise ValueError(f"n_segments must be at least 1; got {n_segments}")
        shown = display_images(run)
        segs = []
        for img in shown:
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


def score_curve(
    run: Run,
    name: str,
    start: Tensor,
    finish: Tensor,
    rank: Tensor,
    n: Tensor,
    steps: int,
    progress: Progress | None,
    settings: dict[str, Any],
    higher_is_better: bool,
) -> CurveResult:
    """Scores of ``start`` with the ``counts[k]`` first-ranked features taken from ``finish``, k = 0..steps."""
    b = start.shape[0]
    k = torch.arange(steps + 1)
    counts = (2 * k[None] * n[:, None] + steps) // (2 * steps)  # round(k * N / steps), half up, in integers
    dev_counts = counts.to(start.device)
    scores = np.full((b, steps + 1), np.nan)
    rows, cols = torch.arange(b).repeat_interleave(steps + 1), k.repeat(b)  # image-major: image 0's curve first
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
    fractions = k.double().numpy() / steps
    return CurveResult(
        name=name,
        fractions=fractions,
        scores=scores,
        auc=trapezoid_auc(fractions, scores),
        higher_is_better=higher_is_better,
        counts=counts.numpy(),
        settings=settings,
    )


class Curves:
    """The shared preparation of every curve on one (model, inputs, maps): run, substrate, ranked features."""

    def __init__(self, model: Any, inputs: Tensor, saliency: Any, **opts: Any) -> None:
        steps = opts["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer; got {steps!r}")
        if opts["granularity"] not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {list(GRANULARITIES)}; got {opts['granularity']!r}")
        self.run = setup(model, inputs, saliency, opts["target"], opts["output"], opts["chunk_size"])
        self.steps = steps
        self.substrate = make_substrate(self.run, opts["substrate"], opts["sigma"], opts["seed"])
        self.labels, self.importance, self.n = features(
            self.run, opts["granularity"], opts["patch_size"], opts["n_segments"]
        )
        sub = opts["substrate"] if isinstance(opts["substrate"], str) else "custom"
        keys = ("steps", "granularity", "patch_size", "sigma", "output", "seed", "n_segments")
        self.settings = {"substrate": sub, **{key: opts[key] for key in keys}}

    def curve(self, mode: str, order: str, progress: Progress | None) -> CurveResult:
        rank = pixel_rank(self.labels, self.importance, order, self.run.maps.shape)
        x, s = self.run.x, self.substrate
        start, finish = (s, x) if mode == "insertion" else (x, s)
        name = mode if order == "morf" else f"{mode}_{order}"
        settings = {**self.settings, "order": order}
        better = mode == "insertion" or order == "lerf"
        return score_curve(self.run, name, start, finish, rank, self.n, self.steps, progress, settings, better)


def masked_scores(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the explanation-kept and explanation-removed images, ``O_c`` and ``D_c``, in one forward.

    The map is min-max normalised per image to ``a`` in [0, 1] (a constant map gives ``a = 0``, as
    pytorch-grad-cam's ``scale_cam_image``) and blended towards black pixels ``b`` (see ``insertion``):
    ``x_r = b + a ⊙ (x - b)`` and ``x_d = b + (1 - a) ⊙ (x - b)``, which are ``a ⊙ x`` and ``(1 - a) ⊙ x`` for a
    model without ``to_model_space``, and the same products in pixel space for a normalising wrapper.
    """
    m = run.maps
    lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
    a = torch.where(hi > lo, (m - lo) / (hi - lo).clamp_min(1e-30), torch.zeros_like(m)).unsqueeze(1)
    ref = run.black()
    kept, removed = ref + a * (run.x - ref), ref + (1 - a) * (run.x - ref)
    b = run.x.shape[0]
    scores = run.score(torch.cat([kept, removed]), torch.arange(b).repeat(2)).numpy()
    return scores[:b], scores[b:]
