"""Teaching material of the Learn page: lesson texts (``notes``) and small demonstrations run by the engine
(``toys``), kept out of the app so that pages stay thin and everything numeric comes from ``xai_core``.

    from xai_core import teaching
    teaching.saturation("ramp", x=2.5, steps=32)          # IG vs the gradient on a saturating 1-D model
    teaching.relu_rules(teaching.RELU_FORWARD, teaching.RELU_SIGNAL, q=50)
    teaching.NOTES["integrated_gradients"].formula        # LaTeX
"""

from xai_core.methods.lrp import lrp_vs_gradient_x_input
from xai_core.teaching.notes import (
    AXIOMS,
    EVALUATION,
    FAMILY_IDEAS,
    FAMILY_TITLES,
    NOTES,
    SANITY_GUIDE,
    SANITY_PAPER,
    Note,
)
from xai_core.teaching.toys import (
    DEFAULT_RULE,
    QUADRATURE_RULES,
    RELU_FORWARD,
    RELU_RULES,
    RELU_SIGNAL,
    SATURATING,
    Saturating,
    Saturation,
    relu_rules,
    saturating_curve,
    saturation,
)

__all__ = [
    "AXIOMS",
    "DEFAULT_RULE",
    "EVALUATION",
    "FAMILY_IDEAS",
    "FAMILY_TITLES",
    "NOTES",
    "QUADRATURE_RULES",
    "RELU_FORWARD",
    "RELU_RULES",
    "RELU_SIGNAL",
    "SANITY_GUIDE",
    "SANITY_PAPER",
    "SATURATING",
    "Note",
    "Saturating",
    "Saturation",
    "lrp_vs_gradient_x_input",
    "relu_rules",
    "saturating_curve",
    "saturation",
]
