"""Attribution methods: one module each; importing this package registers them all (one line per method).

``describe()`` lists every method with its family, paper and parameter schema (what the app's forms, the README's
table and the CLI read); ``get(name)`` is the method's class.
"""

from typing import Any

from xai_core.methods import (  # noqa: F401
    agi,
    big,
    blur_ig,
    bsm,
    deconvnet,
    deeplift,
    expected_gradients,
    fullgrad,
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    guided_grad_cam,
    guided_ig,
    idg,
    idgi,
    input_x_gradient,
    integrated_gradients,
    integrated_hessians,
    lrp,
    neflag,
    rectgrad,
    saliency,
    smooth_grad_cam_pp,
    split_ig,
    squared_gradient,
)
from xai_core.registry import UnknownMethodError, all_methods, get


def available() -> list[str]:
    """Every registered method id, in registration order."""
    return list(all_methods())


def describe() -> list[dict[str, Any]]:
    """Every registered method: name, family, paper, summary, map kind, parameter schema (``Method.describe``)."""
    return [cls.describe() for cls in all_methods().values()]


__all__ = ["UnknownMethodError", "available", "describe", "get"]
