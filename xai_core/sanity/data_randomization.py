"""Data randomization test (Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018, sec. 5).

https://arxiv.org/abs/1810.03292. The same architecture is trained on the digits with true labels and with
permuted labels (which it can only memorise); a method whose maps of the two models look alike on the same test
images cannot be telling us what the model learned from the labels. Similarity should be low
(``higher_is_better=False``).

Both models explain the same class per image: the true-label model's prediction (or ``target``), as the model
randomization test fixes the class by the trained model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from torch import Tensor, nn

from xai_core.attribution import attribute
from xai_core.sanity import digits
from xai_core.sanity.randomization import _frozen, _frozen_dict
from xai_core.sanity.similarity import DEFAULT_MEASURES, check_measures, nanmean, similarities


@dataclass(frozen=True)
class DataRandomizationResult:
    """Maps ``[B, H, W]`` of the true-label and permuted-label models, their similarity per image and its mean.

    ``accuracy`` holds ``true_train``, ``true_test``, ``permuted_train`` (against the permuted labels) and
    ``permuted_test`` (against the true test labels: chance, about 0.1, if the labels were only memorised).
    """

    method: str
    images: Tensor
    target: Tensor
    true_maps: np.ndarray
    permuted_maps: np.ndarray
    similarity: Mapping[str, np.ndarray]
    mean: Mapping[str, float]
    accuracy: Mapping[str, float]
    seed: int
    higher_is_better: bool = False


def data_randomization(
    method: str,
    *,
    images: int | Tensor = 16,
    seed: int = 0,
    target: int | Sequence[int] | Tensor | None = None,
    models: tuple[nn.Module, nn.Module] | None = None,
    similarity: Sequence[str] = DEFAULT_MEASURES,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> DataRandomizationResult:
    """Compare ``method``'s maps of the true-label and the permuted-label digits CNN.

    Args:
        method: a registry id (see ``xai_core.methods.describe()``); CAM methods use the CNN's last conv by default.
        images: the first ``images`` digits of the seeded test split, or a tensor ``[B, 3, 32, 32]``.
        seed: the split, the models' training (``train_digits_cnn``) and the label permutation.
        target: class per image explained in both models; ``None`` means the true-label model's prediction.
        models: ``(true_label_model, permuted_label_model)`` to use instead of the cached trained ones.
        similarity: names from ``similarity.MEASURES``.
        progress: called with the fraction done (training, if the cache is cold, counts for most of it).
        **params: passed to ``attribute`` (method hyperparameters, ``layer=``, ``output=``, ...).
    """
    measures = check_measures(similarity)
    data = digits.load_digits_data(seed)
    report = progress or (lambda _fraction: None)
    true_model: nn.Module
    permuted_model: nn.Module
    if models is None:
        true_model = digits.train_digits_cnn("true", seed=seed, progress=lambda f: report(0.3 * f))
        permuted_model = digits.train_digits_cnn("permuted", seed=seed, progress=lambda f: report(0.3 + 0.6 * f))
    else:
        true_model, permuted_model = models
    if isinstance(images, Tensor):
        x = images
    else:
        if not 1 <= int(images) <= len(data.y_test):
            raise ValueError(f"images must be a count in [1, {len(data.y_test)}] or a tensor; got {images}")
        x = data.x_test[: int(images)]
    report(0.9)

    true_attr = attribute(true_model, x, method, target=target, **params)
    fixed_target = true_attr.target
    true_maps = true_attr.to_maps()
    permuted_maps = attribute(permuted_model, x, method, target=fixed_target, **params).to_maps()
    sims = similarities(true_maps, permuted_maps, measures)
    permuted_labels = digits.training_labels(data, "permuted", seed)
    accuracy = {
        "true_train": digits.accuracy(true_model, data.x_train, data.y_train),
        "true_test": digits.accuracy(true_model, data.x_test, data.y_test),
        "permuted_train": digits.accuracy(permuted_model, data.x_train, permuted_labels),
        "permuted_test": digits.accuracy(permuted_model, data.x_test, data.y_test),
    }
    report(1.0)
    return DataRandomizationResult(
        method=method,
        images=x.detach().clone(),
        target=fixed_target,
        true_maps=_frozen(true_maps),
        permuted_maps=_frozen(permuted_maps),
        similarity=_frozen_dict(sims),
        mean=MappingProxyType({k: nanmean(v) for k, v in sims.items()}),
        accuracy=MappingProxyType(accuracy),
        seed=seed,
    )
