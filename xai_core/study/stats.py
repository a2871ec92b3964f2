"""The statistics of study analysis, on plain numbers (no database): intervals, rankings and agreement.

- Proportions (win rates, simulation accuracy): Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001,
  https://doi.org/10.1214/ss/1009213286), which keeps its coverage near 0 and 1 where the normal interval fails;
  computed by SciPy.
- Likert means: Student-t interval on the ratings. It treats ratings as independent; ratings from one participant
  are correlated, so with few participants read it as a lower bound on the uncertainty.
- Ranking from pairwise choices: Bradley-Terry strengths fitted by Hunter's MM algorithm (Hunter 2004,
  https://doi.org/10.1214/aos/1079120141, eq. 3), which increases the likelihood at every step.
- Agreement on categorical choices: Fleiss' kappa (Fleiss 1971), generalised to a varying number of raters per
  item (items rated once are skipped); it equals Fleiss' formula when every item has the same number of raters.
- Agreement on Likert ratings: Krippendorff's alpha with the interval metric (Krippendorff 2011, "Computing
  Krippendorff's alpha-reliability"), which allows missing ratings: every participant rates a different subset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

NAN = float("nan")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n`` (``(nan, nan)`` when ``n`` is 0).

    SciPy's ``binomtest(...).proportion_ci(method="wilson")``, without continuity correction; its ends are exactly
    0 and 1 at 0 and ``n`` successes.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n={n}]; got {successes}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    if n == 0:
        return NAN, NAN
    interval = scipy_stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with a Student-t interval: ``(mean, low, high)``; the interval is nan for fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return NAN, NAN, NAN
    mean = float(x.mean())
    if x.size < 2:
        return mean, NAN, NAN
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """``(median, first quartile, third quartile)``; nan for no values."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        return NAN, NAN, NAN
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    return float(median), float(q1), float(q3)


def bradley_terry(
    comparisons: Sequence[tuple[str, str]],
    *,
    pseudo_count: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> dict[str, float]:
    """Bradley-Terry log-strengths from ``(winner, loser)`` pairs, centred to mean 0, strongest first.

    ``P(i beats j) = 1 / (1 + exp(s_j - s_i))``. Hunter's MM update is ``p_i <- W_i / sum_j N_ij / (p_i + p_j)``.
    ``pseudo_count`` adds that many virtual wins in each direction to every pair that was compared: a weak prior
    towards equal strengths that keeps them finite when a method never (or always) wins; 0 gives the plain
    maximum-likelihood fit, which then diverges. Strengths of methods never compared with each other, directly or
    through others, are not comparable.
    """
    if pseudo_count < 0:
        raise ValueError(f"pseudo_count must be >= 0; got {pseudo_count}")
    names = sorted({name for pair in comparisons for name in pair})
    if not names:
        return {}
    index = {name: k for k, name in enumerate(names)}
    wins = np.zeros((len(names), len(names)))
    for winner, loser in comparisons:
        if winner == loser:
            raise ValueError(f"a comparison needs two different methods; got ({winner!r}, {loser!r})")
        wins[index[winner], index[loser]] += 1
    compared = (wins + wins.T) > 0
    wins = wins + pseudo_count * compared
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    p = np.ones(len(names))
    with np.errstate(divide="ignore"):
        for _ in range(max_iter):
            ratio = np.divide(games, p[:, None] + p[None, :], out=np.zeros_like(games), where=games > 0)
            denominator = ratio.sum(axis=1)
            new = np.divide(total_wins, denominator, out=np.ones_like(p), where=denominator > 0)
            positive = new > 0  # a method that never won stays at 0 (strength -inf) when pseudo_count is 0
            new = new / np.exp(np.log(new[positive]).mean())
            change = np.abs(np.log(new[positive]) - np.log(p[positive])).max()
            p = new
            if change < tol:
                break
        strengths = np.log(p)
    finite = strengths[np.isfinite(strengths)]
    strengths = strengths - (finite.mean() if finite.size else 0.0)
    order = np.argsort(-strengths, kind="stable")
    return {names[k]: float(strengths[k]) for k in order}


def fleiss_kappa(counts: Sequence[Sequence[int]] | np.ndarray) -> float:
    """Fleiss' kappa from ``counts[item, category]`` (how many raters put the item in the category).

    Items with fewer than two ratings carry no agreement information and are skipped; with a constant number of
    raters this is exactly Fleiss (1971). Returns nan when nothing is left or chance agreement is 1.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"counts must be a 2-D table [items, categories]; got shape {table.shape}")
    if np.any(table < 0):
        raise ValueError("counts must be non-negative")
    raters = table.sum(axis=1)
    table, raters = table[raters >= 2], raters[raters >= 2]
    if table.size == 0:
        return NAN
    observed = ((table * (table - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = table.sum(axis=0) / raters.sum()
    chance = float((shares**2).sum())
    if chance >= 1.0:
        return NAN
    return float((observed - chance) / (1.0 - chance))


def _disagreement(values: np.ndarray, metric: str) -> float:
    """Sum over ordered pairs ``i != j`` of ``delta(v_i, v_j)``, in O(n)."""
    n = values.size
    if metric == "interval":
        return float(2 * n * (values**2).sum() - 2 * values.sum() ** 2)
    _, counts = np.unique(values, return_counts=True)
    return float(n * n - (counts**2).sum())


def krippendorff_alpha(units: Sequence[Sequence[float]], metric: str = "interval") -> float:
    """Krippendorff's alpha over ``units`` (each the ratings one item received; any number, missing allowed).

    ``alpha = 1 - D_o / D_e`` with ``D_o`` the mean within-unit disagreement over pairable values and ``D_e`` that
    over all pairs; ``metric`` is ``"interval"`` (squared difference) or ``"nominal"`` (unequal). Units with one
    rating are not pairable and are skipped. Returns nan when there is no disagreement to expect.
    """
    if metric not in ("interval", "nominal"):
        raise ValueError(f"metric must be 'interval' or 'nominal'; got {metric!r}")
    pairable = [np.asarray(u, dtype=np.float64) for u in units if len(u) >= 2]
    if not pairable:
        return NAN
    everything = np.concatenate(pairable)
    n = everything.size
    observed = sum(_disagreement(u, metric) / (u.size - 1) for u in pairable) / n
    expected = _disagreement(everything, metric) / (n * (n - 1))
    if expected == 0:
        return NAN
    return float(1.0 - observed / expected)
