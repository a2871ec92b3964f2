"""Checks that call attribution methods and score what they return: axioms, robustness, hyperparameter sweeps.

Unlike ``xai_core.metrics`` (which scores maps it is given), these run a method several times on purpose-built
inputs or models.
"""

from xai_core.checks.axioms import (
    AxiomResult,
    check_axioms,
    completeness,
    dummy_sensitivity,
    implementation_invariance,
    linearity,
    sensitivity_a,
    symmetry_preservation,
)
from xai_core.checks.robustness import FragilityResult, SensitivityResult, fragility_attack, max_sensitivity
from xai_core.checks.sweeps import SweepResult, sweep

__all__ = [
    "AxiomResult",
    "FragilityResult",
    "SensitivityResult",
    "SweepResult",
    "check_axioms",
    "completeness",
    "dummy_sensitivity",
    "fragility_attack",
    "implementation_invariance",
    "linearity",
    "max_sensitivity",
    "sensitivity_a",
    "sweep",
    "symmetry_preservation",
]
