"""Analysis: intervals and agreement against published values, Bradley-Terry against a known ranking and a direct
likelihood fit, the summary of a simulated study, and exports that read back to what was written."""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterator

import numpy as np
import pytest
from scipy import optimize
from sqlalchemy import select

from xai_core.study import (
    FORCED_CHOICE,
    FORWARD_SIMULATION,
    LIKERT,
    AttentionCheck,
    Database,
    StudySpec,
    answer,
    bradley_terry,
    create_study,
    fleiss_kappa,
    join,
    krippendorff_alpha,
    next_trial,
    open_database,
    publish,
    responses,
    responses_from_csv,
    responses_from_json,
    responses_to_csv,
    responses_to_json,
    summarize,
    summarize_study,
    summary_from_json,
    summary_rows,
    summary_to_csv,
    summary_to_json,
    t_interval,
    wilson_interval,
)
from xai_core.study.demo import synthetic_stimuli

# --- statistics against hand computation and textbook values -----------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(8, 10), (1, 20), (50, 100), (0, 10), (10, 10), (3, 7)])
def test_wilson_interval_matches_the_formula(k: int, n: int) -> None:
    z = 1.959963984540054  # the 97.5% normal quantile
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_wilson_interval_published_values() -> None:
    # 8 of 10 and 1 of 20: Newcombe (1998, Stat. Med. 17:857), Table I, method 3 (Wilson score).
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes must lie in"):
        wilson_interval(5, 4)


def test_fleiss_kappa_textbook_example() -> None:
    # Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert fleiss_kappa([*table, [1, 0, 0, 0, 0]]) == fleiss_kappa(table)  # an item rated once carries no information


def test_krippendorff_alpha_textbook_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4-coder 12-unit example with gaps:
    # nominal 0.743, interval 0.849.
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[c[u] for c in coders if c[u] is not None] for u in range(12)]
    assert krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(units, "nominal") == pytest.approx(0.743, abs=5e-4)


def test_t_interval() -> None:
    mean, low, high = t_interval([1, 2, 3, 4, 5])
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) * s / sqrt(n)
    assert mean == 3.0 and (low, high) == pytest.approx((3 - half, 3 + half), abs=1e-5)


def _simulate(true: dict[str, float], games: int, seed: int) -> list[tuple[str, str]]:
    rng, names, pairs = random.Random(seed), sorted(true), []
    for _ in range(games):
        a, b = rng.sample(names, 2)
        win_a = rng.random() < 1 / (1 + math.exp(true[b] - true[a]))
        pairs.append((a, b) if win_a else (b, a))
    return pairs


def test_bradley_terry_recovers_a_known_ranking() -> None:
    true = {"grad_cam": 1.2, "integrated_gradients": 0.6, "saliency": 0.0, "random": -0.9, "edge": -1.5}
    fitted = bradley_terry(_simulate(true, 1500, seed=3))
    assert list(fitted) == sorted(true, key=true.get, reverse=True)
    centred = {m: v - np.mean(list(true.values())) for m, v in true.items()}
    assert all(abs(fitted[m] - centred[m]) < 0.3 for m in true)
    assert sum(fitted.values()) == pytest.approx(0.0, abs=1e-9)


def test_bradley_terry_mm_equals_the_direct_maximum_likelihood_fit() -> None:
    comparisons = _simulate({"a": 0.5, "b": 0.0, "c": -0.4}, 120, seed=1)
    names = ["a", "b", "c"]

    def negative_log_likelihood(free: np.ndarray) -> float:
        s = dict(zip(names, [0.0, *free], strict=True))
        return sum(math.log1p(math.exp(s[loser] - s[winner])) for winner, loser in comparisons)

    fit = optimize.minimize(negative_log_likelihood, np.zeros(2), method="BFGS", options={"gtol": 1e-10})
    direct = np.array([0.0, *fit.x])
    direct -= direct.mean()
    mm = bradley_terry(comparisons, pseudo_count=0.0)
    assert [mm[n] for n in names] == pytest.approx(direct, abs=1e-5)


def test_bradley_terry_keeps_strengths_finite_for_a_method_that_never_wins() -> None:
    fitted = bradley_terry([("a", "b")] * 6 + [("b", "c")] * 4)
    assert list(fitted) == ["a", "b", "c"] and all(math.isfinite(v) for v in fitted.values())
    assert bradley_terry([("a", "b")] * 3, pseudo_count=0.0)["b"] == -math.inf


# --- a simulated study end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, str]]:
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'analysis.db'}")
    stimuli = synthetic_stimuli(images=4, methods=("good", "fair", "poor"), size=8)
    spec = StudySpec(
        "Analysis",
        "Answer.",
        tasks=(FORCED_CHOICE, LIKERT, FORWARD_SIMULATION),
        trials_per_participant=13,
        attention_checks=1,
        seed=11,
        distractor_labels=("cat", "dog", "car", "boat", "tree"),
    )
    info = create_study(db, spec)
    publish(db, info.code, stimuli, [AttentionCheck(LIKERT, "Attention: select 5.", 5, (0,))])
    rank = {"good": 2, "fair": 1, "poor": 0}
    runs = [join(db, info.code, participant_id=f"p{p}") for p in range(12)]
    oracle = _oracle(db)  # the test knows the hidden methods and answers; participants do not
    for p, run in enumerate(runs):
        while (view := next_trial(db, run.token)) is not None:
            methods, correct = oracle[view.trial_id]
            if view.prompt.startswith("Attention"):
                reply: str | int = 1 if p == 11 else 5  # p11 is careless
            elif view.task == FORCED_CHOICE:
                reply = "left" if rank[methods[0]] > rank[methods[1] or ""] else "right"
            elif view.task == LIKERT:
                reply = 2 + rank[methods[0]]
            else:  # forward simulation: right unless the map is "poor"
                reply = correct if methods[0] != "poor" else (correct + 1) % len(view.options)
            answer(db, run.token, view.trial_id, reply, client_ms=1000 + 10 * p)
    yield db, info.code
    db.dispose()


def _oracle(db: Database) -> dict[int, tuple[tuple[str, str | None], int]]:
    """trial id -> ((left method, right method), correct option) for every trial in the database."""
    from xai_core.study import schema as orm

    with db.read() as session:
        method = dict(session.execute(select(orm.Stimulus.id, orm.Stimulus.method)).all())
        rows = session.execute(
            select(orm.Trial.id, orm.Trial.left_stimulus_id, orm.Trial.right_stimulus_id, orm.Item.correct).join(
                orm.Item, orm.Item.id == orm.Trial.item_id
            )
        ).all()
    return {
        t: ((method[left], method.get(right)), correct if isinstance(correct, int) else -1)
        for t, left, right, correct in rows
    }


def test_summary_of_a_simulated_study(study: tuple[Database, str]) -> None:
    db, code = study
    records = responses(db, code)
    assert len(records) == 12 * 13
    summary = summarize(records)
    assert summary.participants == summary.finished_participants == 12 and summary.responses == 12 * 13
    assert summary.attention_checks == 12 and summary.attention_passed == 11 and summary.failed_attention == ("p11",)
    rates = {r.method: r for r in summary.win_rates}
    assert rates["good"].rate == 1.0 and rates["poor"].rate == 0.0 and rates["good"].low < 1.0
    assert [s.method for s in summary.bradley_terry] == ["good", "fair", "poor"]
    assert summary.choice_kappa == pytest.approx(1.0)  # everyone chose the same map of every pair
    assert {m.method: m.mean for m in summary.likert} == {"good": 4.0, "fair": 3.0, "poor": 2.0}
    assert summary.likert_alpha == pytest.approx(1.0)
    assert {r.method: r.rate for r in summary.simulation} == {"fair": 1.0, "good": 1.0, "poor": 0.0}
    timing = {t.task: t for t in summary.time}
    assert timing["all"].n == 12 * 12 and timing["all"].median_ms >= 0 and timing["all"].client_median_ms > 1000
    excluded = summarize(records, exclude_failed_attention=True)
    assert excluded.excluded_participants == ("p11",) and sum(r.n for r in excluded.likert) < sum(
        r.n for r in summary.likert
    )
    assert summarize_study(db, code) == summary


def test_exports_round_trip(study: tuple[Database, str]) -> None:
    db, code = study
    records = responses(db, code)
    assert responses_from_csv(responses_to_csv(records)) == records
    assert responses_from_json(responses_to_json(records)) == records
    summary = summarize(records)
    again = summary_from_json(summary_to_json(summary))
    assert again.to_dict() == summary.to_dict()
    rows = list(csv.reader(io.StringIO(summary_to_csv(summary))))
    assert rows[0] == ["section", "name", "statistic", "value", "low", "high", "n"]
    expected = summary_rows(summary)
    assert len(rows) == len(expected) + 1
    for written, row in zip(rows[1:], expected, strict=True):
        assert written[:3] == list(row[:3])
        for cell, value in zip(written[3:], row[3:], strict=True):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert cell == ""
            else:
                assert float(cell) == pytest.approx(float(value), abs=0)
    with pytest.raises(ValueError, match="CSV header must be"):
        responses_from_csv("a,b\n1,2\n")
