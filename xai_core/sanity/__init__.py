"""Sanity checks for saliency methods: model and data randomization (Adebayo et al. 2018) and ROAR/KAR (Hooker et
al. 2019). Everything runs on copies of the model or on models trained here; the caller's model is never changed.

from xai_core.sanity import model_randomization
result = model_randomization(model, x, "saliency", mode="cascading")     # or randomize="shuffle"
result.similarity_table()   # {"layer": [...], "spearman_abs": [...], ...}: similarity should drop

from xai_core.sanity import RoarRun, run_roar, roar_data, roar_results
images = roar_data.class_folders(xai_core.evaluation.scan_folder(Path("photos")))[0]   # labelled by class folder
report = run_roar(RoarRun(out=Path("roar"), images=images, requests={"saliency": Request.create("saliency")}),
                  progress=lambda done, what: ..., should_stop=lambda: False)
roar_results.figure(roar_results.read_curves(report.out))   # accuracy vs fraction removed (ROAR) and kept (KAR)
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
from xai_core.sanity.roar_folder import RoarReport, RoarRun, run_roar
from xai_core.sanity.similarity import MEASURES, similarities

__all__ = [
    "MEASURES",
    "MODES",
    "RANDOMIZE",
    "DataRandomizationResult",
    "DigitsCNN",
    "RandomizationResult",
    "RandomizationStep",
    "RoarReport",
    "RoarResult",
    "RoarRun",
    "data_randomization",
    "load_digits_data",
    "model_randomization",
    "parameter_layers",
    "roar",
    "run_roar",
    "shuffle_weights",
    "similarities",
    "train_digits_cnn",
]
