"""RectGrad against a step-by-step re-implementation of the authors' TensorFlow graph (1202kbs/Rectified-Gradient).

``deepexplain/tensorflow/methods.py::RectifiedGradient`` overrides two gradients: every ReLU passes ``grad`` where
``out * grad`` exceeds its per-sample ``percentile(q)`` (``tf.contrib.distributions.percentile``, nearest rank), and
every SAME ``Conv2D`` zeroes ``grad`` on the output's one-unit border before ``conv2d_backprop_input``; the map is
``grad * X``. The re-implementation below writes that backward pass by hand (numpy percentiles, transposed
convolutions), so the only shared code is PyTorch's convolution.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai_core
from xai_core.hooks.padding import padding_trick

SIZE = 6


def conv_net(seed: int = 0) -> nn.Sequential:
    """conv3x3(SAME)-ReLU-conv3x3(SAME)-ReLU-dense: the shape of the authors' CIFAR network, smaller."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * SIZE * SIZE, 3),
    ).eval()  # fmt: skip


def _rectify(out: torch.Tensor, grad: torch.Tensor, q: float) -> torch.Tensor:
    """``tf.where(percentile(out * grad, q, axis=[1, 2, 3]) < out * grad, grad, 0)``."""
    importance = (out * grad).numpy()
    thresh = np.stack([np.percentile(row, q, method="nearest") for row in importance.reshape(len(importance), -1)])
    return torch.where(torch.from_numpy(importance > thresh.reshape(-1, 1, 1, 1)), grad, torch.zeros_like(grad))


def _border(grad: torch.Tensor) -> torch.Tensor:
    """``grad * tf.pad(tf.ones([N, H - 2, W - 2, C]), [[0, 0], [1, 1], [1, 1], [0, 0]])``, channels first."""
    mask = F.pad(torch.ones(*grad.shape[:2], grad.shape[2] - 2, grad.shape[3] - 2), (1, 1, 1, 1))
    return grad * mask


def authors_rectgrad(model: nn.Sequential, x: torch.Tensor, target: list[int], q: float, trick: bool) -> torch.Tensor:
    conv1, _, conv2, _, _, dense = model
    with torch.no_grad():
        a1 = F.relu(conv1(x))
        a2 = F.relu(conv2(a1))
        grad = dense.weight[target].view(-1, *a2.shape[1:])
        grad = _rectify(a2, grad, q)
        grad = F.conv_transpose2d(_border(grad) if trick else grad, conv2.weight, padding=1)
        grad = _rectify(a1, grad, q)
        grad = F.conv_transpose2d(_border(grad) if trick else grad, conv1.weight, padding=1)
    return grad * x  # get_symbolic_attribution: g * X


@pytest.mark.parametrize("q", [98.0, 80.0, 0.0])
@pytest.mark.parametrize("trick", [True, False])
def test_rectgrad_matches_the_authors_graph(q: float, trick: bool) -> None:
    model = conv_net()
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    target = [0, 2, 1]
    expected = authors_rectgrad(model, x, target, q, trick)
    mode = "padded" if trick else "off"
    ours = xai_core.attribute(model, x, "rectgrad", target=target, q=q, padding_trick=mode)
    torch.testing.assert_close(ours.attributions, expected, rtol=1e-5, atol=1e-6)
    assert ours.extras["padding_trick_convolutions"] == (2 if trick else 0)
    raw = xai_core.attribute(model, x, "rectgrad", target=target, q=q, padding_trick=mode, times_input=False)
    torch.testing.assert_close(raw.attributions * x, ours.attributions)


def test_explicit_zero_padding_layers_count_as_padded_and_other_padding_does_not() -> None:
    # timm's Conv2dSame pads with F.pad and convolves with padding=0: the same function, the same mask.
    padded = conv_net(3)
    split = nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ZeroPad2d(1), nn.Conv2d(4, 4, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * SIZE * SIZE, 3)).eval()  # fmt: skip
    split.load_state_dict({k: v for k, v in zip(split.state_dict(), padded.state_dict().values(), strict=True)})
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    ours = xai_core.attribute(split, x, "rectgrad", target=[1, 2])
    torch.testing.assert_close(ours.attributions, xai_core.attribute(padded, x, "rectgrad", target=[1, 2]).attributions)
    assert ours.extras["padding_trick_convolutions"] == 2
    reflect = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.Flatten(),
                            nn.Linear(4 * SIZE * SIZE, 2)).eval()  # fmt: skip
    assert xai_core.attribute(reflect, x, "rectgrad", target=0).extras["padding_trick_convolutions"] == 0
    assert xai_core.attribute(reflect, x, "rectgrad", target=0, padding_trick="all").extras[
        "padding_trick_convolutions"] == 1  # fmt: skip


def test_padding_trick_leaves_nothing_behind_and_refuses_unknown_modes() -> None:
    with pytest.raises(ValueError, match="padding trick must be one of"), padding_trick("sometimes"):
        pass
    with pytest.raises(xai_core.ParameterError, match="padding_trick"):
        xai_core.attribute(conv_net(), torch.zeros(1, 3, SIZE, SIZE), "rectgrad", padding_trick="sometimes")
    assert torch._C._len_torch_function_stack() == 0
