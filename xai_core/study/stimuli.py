"""Precomputing stimuli: (model, images, methods, parameters) -> overlay PNGs with the settings that made them.

This is the only part of the study engine that runs a model, and it runs before ``publish``: participants are shown
the stored PNGs. Every map of one image explains the same class (the model's prediction unless ``target`` is
given), so forced-choice pairs compare methods on equal terms. Maps are shown as absolute values, scaled by their
own ``percentile`` (``viz.normalize``), in one colour map for every method, so that no method stands out by its
colours alone. Each stimulus also carries the model's next ``ALTERNATIVES`` most probable labels, forward
simulation's default wrong options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from xai_core import viz
from xai_core.images import LoadedImage, image_hash
from xai_core.study.errors import StudyError
from xai_core.study.spec import Stimulus

if TYPE_CHECKING:
    from xai_core.models import ModelWrapper
    from xai_core.request import Request

ALTERNATIVES = 9  # enough wrong options for the largest forward-simulation design (10 options)


def _pil(image: Image.Image | LoadedImage, index: int) -> Image.Image:
    if isinstance(image, LoadedImage):
        return image.image
    if isinstance(image, Image.Image):
        return image
    raise StudyError(f"images[{index}] must be a PIL image or a LoadedImage; got {type(image).__name__}")


def build_stimuli(
    model: ModelWrapper,
    images: Sequence[Image.Image | LoadedImage],
    methods: Sequence[str | Request],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    target: int | None = None,
    output: str = "logit",
    alpha: float = 0.5,
    cmap: str = "inferno",
    percentile: float = 99.0,
    progress: Callable[[float], None] | None = None,
) -> list[Stimulus]:
    """One ``Stimulus`` per (image, method), in that order.

    Args:
        model: a wrapper from ``xai_core.load_model`` (or any ``ModelWrapper``): preprocessing, labels, display.
        images: PIL images or ``LoadedImage`` records.
        methods: registry ids or ``Request`` records (a method with its parameters, noise and layer); each method
            must appear once.
        params: hyperparameters of the methods given by id, e.g. ``{"integrated_gradients": {"steps": 32}}``.
        target: the class every map explains; ``None`` explains each image's predicted class.
        output: ``"logit"`` or ``"probability"``.
        alpha: the overlay's opacity (``viz.overlay``); it, ``cmap`` and ``percentile`` are stored in the settings.
        cmap: the overlay's colour map (``viz.overlay``).
        percentile: the normalisation's clipping percentile (``viz.normalize``).
        progress: called with the fraction done.
    """
    # torch is imported here, not at module level: storage, participation and analysis never need it.
    from xai_core.attribution import attribute
    from xai_core.models import ModelWrapper
    from xai_core.request import Request

    if not isinstance(model, ModelWrapper):
        raise StudyError(f"model must be a ModelWrapper (xai_core.load_model); got {type(model).__name__}")
    names = [m.method if isinstance(m, Request) else m for m in methods]
    if not names or len(set(names)) != len(names):
        raise StudyError(f"methods must be distinct and non-empty; got {names}")
    extra = sorted(set(params or {}) - {m for m in methods if isinstance(m, str)})
    if extra:
        raise StudyError(f"params names methods {extra} that are not in methods {names} (given by id)")
    requests = [
        m if isinstance(m, Request) else Request.create(m, (params or {}).get(m, {}), output=output) for m in methods
    ]
    out: list[Stimulus] = []
    total = len(images) * len(methods)
    for index, raw in enumerate(images):
        picture = _pil(raw, index)
        x = model.preprocess(picture)
        ranked = [int(c) for c in model.predict(x)[0].argsort(descending=True)]
        predicted = ranked[0]
        others = dict.fromkeys(model.labels[c] for c in ranked[1 : 4 * ALTERNATIVES])  # ImageNet repeats some labels
        alternatives = tuple(label for label in others if label != model.labels[predicted])[:ALTERNATIVES]
        explained = predicted if target is None else int(target)
        display = model.to_display(x)[0]
        digest = image_hash(picture)
        for request in requests:
            result = attribute(model, x, request, target=explained)
            method = request.method
            shown = viz.normalize(result.to_maps()[0], percentile=percentile)
            settings = {
                **result.settings(),
                "seed": result.seed,
                "model": {"name": model.name, "source": model.source},
                "image_hash": digest,
                "display": {"alpha": alpha, "cmap": cmap, "percentile": percentile, "signed": False},
            }
            out.append(
                Stimulus(
                    method=method,
                    image_hash=digest,
                    target_class=explained,
                    target_label=model.labels[explained],
                    settings=settings,
                    png=viz.to_png_bytes(viz.overlay(display, shown, alpha=alpha, cmap=cmap)),
                    predicted_class=predicted,
                    predicted_label=model.labels[predicted],
                    image_png=viz.to_png_bytes(display),
                    alternatives=alternatives,
                )
            )
            if progress is not None:
                progress(len(out) / total)
    return out
