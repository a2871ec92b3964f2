"""Attribution methods: one module each; importing this package registers them all (one line per method)."""

from xai_core.methods import (  # noqa: F401
    agi,
    big,
    blur_ig,
    bsm,
    deconvnet,
    expected_gradients,
    fullgrad,
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    guided_grad_cam,
    guided_ig,
    idgi,
    input_x_gradient,
    integrated_gradients,
    neflag,
    rectgrad,
    saliency,
    split_ig,
    squared_gradient,
)
