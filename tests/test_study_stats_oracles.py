"""The study statistics against well-kept libraries, on several seeded data sets each.

Oracles: SciPy and statsmodels (Wilson interval), choix (Bradley-Terry maximum likelihood), statsmodels (Fleiss'
kappa), krippendorff (Krippendorff's alpha). The closed-form and textbook checks are in test_study_analysis.py.
"""

from __future__ import annotations

import choix
import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from xai_core.study.stats import bradley_terry, fleiss_kappa, krippendorff_alpha, wilson_interval

SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(confidence: float) -> None:
    for n in (1, 2, 7, 30, 250):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
            assert wilson_interval(k, n, confidence) == pytest.approx((low, high), abs=1e-12), (k, n)


def _comparisons(seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Pairwise choices among 3-8 methods under a Bradley-Terry model, every method winning and losing."""
    rng = np.random.default_rng(seed)
    names = [f"m{k}" for k in range(int(rng.integers(3, 9)))]
    strengths = rng.normal(0.0, 1.0, len(names))
    pairs: list[tuple[str, str]] = []
    for _ in range(int(rng.integers(150, 600))):
        i, j = rng.choice(len(names), size=2, replace=False)
        i_wins = rng.random() < 1.0 / (1.0 + np.exp(strengths[j] - strengths[i]))
        pairs.append((names[i], names[j]) if i_wins else (names[j], names[i]))
    winners, losers = {w for w, _ in pairs}, {loser for _, loser in pairs}
    assert winners == losers == set(names), "a method that never wins or loses has no finite MLE"
    return names, pairs


def _choix_strengths(names: list[str], pairs: list[tuple[str, str]]) -> dict[str, float]:
    index = {name: k for k, name in enumerate(names)}
    params = choix.ilsr_pairwise(len(names), [(index[w], index[loser]) for w, loser in pairs], tol=1e-12)
    return {name: float(params[index[name]] - params.mean()) for name in names}


@pytest.mark.parametrize("seed", SEEDS)
def test_bradley_terry_maximum_likelihood_matches_choix(seed: int) -> None:
    names, pairs = _comparisons(seed)
    ours = bradley_terry(pairs, pseudo_count=0.0, tol=1e-13)
    expected = _choix_strengths(names, pairs)
    assert ours == pytest.approx(expected, abs=1e-6)
    assert list(ours) == sorted(expected, key=lambda n: -expected[n])  # strongest first


@pytest.mark.parametrize("seed", SEEDS)
def test_bradley_terry_pseudo_counts_are_virtual_comparisons(seed: int) -> None:
    """pseudo_count=0.5 is the MLE of the data counted twice plus one win each way for every compared pair."""
    names, pairs = _comparisons(seed)
    compared = {tuple(sorted(pair)) for pair in pairs}
    virtual = [*pairs, *pairs, *[(a, b) for a, b in compared], *[(b, a) for a, b in compared]]
    assert bradley_terry(pairs, pseudo_count=0.5, tol=1e-13) == pytest.approx(
        _choix_strengths(names, virtual), abs=1e-6
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_kappa_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    items, raters, categories = int(rng.integers(8, 40)), int(rng.integers(2, 8)), int(rng.integers(2, 6))
    # each item has its own preferred category, so raters agree more than by chance but not always
    preferences = rng.dirichlet(np.full(categories, 0.5), size=items)
    ratings = np.array([rng.choice(categories, size=raters, p=p) for p in preferences])
    table, _ = aggregate_raters(ratings, n_cat=categories)
    assert fleiss_kappa(table) == pytest.approx(sm_fleiss_kappa(table, method="fleiss"), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", ["interval", "nominal"])
def test_krippendorff_alpha_matches_krippendorff(seed: int, metric: str) -> None:
    """Likert ratings (1-5) by 3-7 raters of 10-40 items, about 30% missing; alpha ignores who rated."""
    rng = np.random.default_rng(seed)
    raters, units = int(rng.integers(3, 8)), int(rng.integers(10, 41))
    latent = rng.normal(3.0, 1.0, units)
    ratings = np.clip(np.rint(latent + rng.normal(0.0, 0.8, (raters, units))), 1, 5)
    ratings[rng.random((raters, units)) < 0.3] = np.nan
    per_unit = [[float(v) for v in column if not np.isnan(v)] for column in ratings.T]
    expected = krippendorff.alpha(reliability_data=ratings, level_of_measurement=metric)
    assert krippendorff_alpha(per_unit, metric) == pytest.approx(expected, abs=1e-10)
