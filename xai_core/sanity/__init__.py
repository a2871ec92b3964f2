"""Sanity checks for saliency methods: model and data randomization (Adebayo et al. 2018) and ROAR (Hooker et al.
2019). Everything runs on copies of the model or on models trained here; the caller's model is never changed.

from xai_core.sanity import model_randomization
result = model_randomization(model, x, "saliency", mode="cascading")     # or randomize="shuffle"
result.similarity_table()   # {"layer": [...], "spearman_abs": [...], ...}: similarity should drop
"""

from xai_core.sanity.data_randomization import DataRandomizationResult, data_randomization
from xai_core.sanity.digits import DigitsCNN, load_digits_data, train_digits_cnn
from xai_core.sanity.randomization import (
    MODES,
    RANDOMIZE,
    RandomizationResult,
    RandomizationStep,
    model_randomization,
    parameter_layers,
    shuffle_weights,
)
from xai_core.sanity.roar import RoarResult, roar
from xai_core.sanity.similarity import MEASURES, similarities

__all__ = [
    "MEASURES",
    "MODES",
    "RANDOMIZE",
    "DataRandomizationResult",
    "DigitsCNN",
    "RandomizationResult",
    "RandomizationStep",
    "RoarResult",
    "data_randomization",
    "load_digits_data",
    "model_randomization",
    "parameter_layers",
    "roar",
    "shuffle_weights",
    "similarities",
    "train_digits_cnn",
]
