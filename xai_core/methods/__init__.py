"""Attribution methods: one module each; importing this package registers them all (one line per method)."""

from xai_core.methods import (  # noqa: F401
    deconvnet,
    fullgrad,
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    guided_grad_cam,
    input_x_gradient,
    integrated_gradients,
    rectgrad,
    saliency,
    squared_gradient,
)
