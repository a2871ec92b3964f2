"""Study design and participant flow: specs, publishing, stimuli from a toy model, deterministic counterbalanced
plans, attention checks, resuming, consent and closing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from toys import toy_wrapper

from xai_core import Noise, Request, attribute, viz
from xai_core.study import (
    FORCED_CHOICE,
    FORWARD_SIMULATION,
    LIKERT,
    AttentionCheck,
    Database,
    NotFoundError,
    StudyError,
    StudySpec,
    answer,
    build_stimuli,
    check_plan,
    close_study,
    create_study,
    discard_draft,
    join,
    list_studies,
    next_trial,
    open_database,
    progress,
    publish,
)
from xai_core.study.demo import synthetic_stimuli
from xai_core.study.ordering import PoolItem, plan_trials
from xai_core.study.spec import Stimulus

LABELS = ("cat", "dog", "car", "boat", "tree")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'design.db'}")
    yield database
    database.dispose()


def _study(db: Database, stimuli: list[Stimulus] | None = None, checks: tuple = (), **spec: object) -> str:
    options = {"title": "Maps", "instructions": "Look closely.", "seed": 7, "distractor_labels": LABELS, **spec}
    info = create_study(db, StudySpec(**options))  # type: ignore[arg-type]
    publish(db, info.code, stimuli or synthetic_stimuli(images=4, methods=("a", "b", "c"), size=8), checks)
    return info.code


def _reply(task: str) -> str | int:
    return {FORCED_CHOICE: "left", LIKERT: 4, FORWARD_SIMULATION: 0}[task]


def _run(db: Database, token: str) -> list[tuple[int, str]]:
    seen = []
    while (view := next_trial(db, token)) is not None:
        seen.append((view.trial_id, view.task))
        answer(db, token, view.trial_id, _reply(view.task))
    return seen


# --- specs and publishing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tasks": ("ranking",)}, "tasks must be distinct names"),
        ({"trials_per_participant": 0}, "trials_per_participant must be an integer >= 1"),
        ({"attention_checks": 5, "trials_per_participant": 5}, "attention_checks (5) must be fewer"),
        ({"title": " "}, "title must be a non-empty string"),
        ({"simulation_options": 1}, "simulation_options must be an integer >= 2"),
        ({"prompts": {"rank": "x"}}, "prompts has keys ['rank']"),
    ],
)
def test_spec_errors_name_the_field(change: dict, message: str) -> None:
    with pytest.raises(StudyError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        StudySpec(**{"title": "T", "instructions": "I", **change})  # type: ignore[arg-type]


def test_stimulus_needs_png_bytes_or_a_path() -> None:
    base = {"method": "m", "image_hash": "h", "target_class": 0, "target_label": "cat", "settings": {}}
    with pytest.raises(StudyError, match="exactly one of png= or path="):
        Stimulus(**base)  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="must be PNG bytes"):
        Stimulus(**base, png=b"GIF89a")  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="plain JSON"):
        Stimulus(**{**base, "settings": {"x": object()}}, path="m.png")  # type: ignore[arg-type]


def test_publish_freezes_and_builds_the_item_pool(db: Database) -> None:
    info = create_study(db, StudySpec("T", "I", tasks=(FORCED_CHOICE, LIKERT), trials_per_participant=4))
    with pytest.raises(StudyError, match="not accepting participants"):
        join(db, info.code)
    stimuli = synthetic_stimuli(images=2, methods=("a", "b", "c"), size=8)
    published = publish(db, info.code, stimuli)
    assert published.status == "published" and published.published_at is not None
    assert published.stimuli == 6 and published.items == 2 * 3 + 6  # 3 pairs per image + one Likert item per map
    with pytest.raises(StudyError, match="frozen once published"):
        publish(db, info.code, stimuli)
    with pytest.raises(NotFoundError, match="no study with code 'nope'"):
        publish(db, "nope", stimuli)


def test_publish_refuses_a_pool_too_small_for_the_plan(db: Database) -> None:
    info = create_study(db, StudySpec("T", "I", tasks=(FORCED_CHOICE,), trials_per_participant=10))
    with pytest.raises(StudyError, match="forced_choice has 3 items but each participant needs up to 10"):
        publish(db, info.code, synthetic_stimuli(images=3, methods=("a", "b"), size=8))
    with pytest.raises(StudyError, match="asks for 1 attention checks; publish was given 0"):
        info = create_study(db, StudySpec("T", "I", trials_per_participant=3, attention_checks=1))
        publish(db, info.code, synthetic_stimuli(images=3, methods=("a", "b"), size=8))


def test_forward_simulation_needs_enough_distractors(db: Database) -> None:
    info = create_study(db, StudySpec("T", "I", tasks=(FORWARD_SIMULATION,), trials_per_participant=2))
    with pytest.raises(StudyError, match="needs 3 wrong labels besides 'cat'; only 1 distinct"):
        publish(db, info.code, synthetic_stimuli(images=2, methods=("a",), size=8))


def test_forward_simulation_offers_the_models_next_classes_as_wrong_options(db: Database) -> None:
    """Two images of two labels used to fail ("only 1 distinct labels"); the model's runners-up fill the options."""
    import dataclasses

    runners_up = {"cat": ("lynx", "tiger cat", "lynx", "cat", "fox"), "dog": ("wolf", "coyote", "dingo")}
    stimuli = [
        dataclasses.replace(s, alternatives=runners_up[s.answer_label])
        for s in synthetic_stimuli(images=2, methods=("a", "b", "c"), labels=("cat", "dog"), size=8)
    ]
    spec = StudySpec("T", "I", tasks=(FORWARD_SIMULATION,), trials_per_participant=6)
    check_plan(spec, images=2, methods=3)  # passes before any map is computed
    info = create_study(db, spec)
    publish(db, info.code, stimuli)
    run = join(db, info.code)
    seen = []
    while (view := next_trial(db, run.token)) is not None:
        seen.append(set(view.options))
        answer(db, run.token, view.trial_id, 0)
    # the three most probable other classes, duplicates and the answer itself left out
    assert (
        sorted(seen, key=sorted) == [{"cat", "lynx", "tiger cat", "fox"}] * 3 + [{"dog", "wolf", "coyote", "dingo"}] * 3
    )


def test_check_plan_refuses_before_any_map_what_publish_would_refuse() -> None:
    too_many = StudySpec("T", "I", tasks=(FORCED_CHOICE,), trials_per_participant=7)
    with pytest.raises(StudyError, match=r"forced_choice has 6 items but each participant needs up to 7"):
        check_plan(too_many, images=2, methods=3)  # 2 images x 3 pairs
    check_plan(StudySpec("T", "I", tasks=(FORCED_CHOICE, LIKERT), trials_per_participant=12), images=2, methods=3)
    few_labels = StudySpec(
        "T", "I", tasks=(FORWARD_SIMULATION,), trials_per_participant=2, distractor_labels=("a", "b")
    )
    with pytest.raises(StudyError, match="needs 3 wrong labels per item; distractor_labels has 2"):
        check_plan(few_labels, images=2, methods=1)


# --- stimuli from a model ----------------------------------------------------------------------------------------


def test_build_stimuli_with_a_toy_model_reproduces_its_maps(db: Database) -> None:
    model = toy_wrapper(12, labels=["zero", "one", "two", "three"])
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (14, 16, 3), dtype=np.uint8)) for _ in range(2)]
    progress_seen: list[float] = []
    stimuli = build_stimuli(
        model,
        images,
        [Request.create("saliency", noise=Noise("smoothgrad", samples=3, seed=1)), "grad_cam"],
        progress=progress_seen.append,
    )
    assert [s.method for s in stimuli] == ["saliency", "grad_cam"] * 2
    assert progress_seen[-1] == 1.0
    for s in stimuli:
        assert s.png is not None and s.png.startswith(b"\x89PNG") and s.image_png is not None
        settings = json.loads(json.dumps(s.settings))  # plain JSON
        assert settings["model"]["name"] == "toy" and settings["image_hash"] == s.image_hash
        assert settings["target"] == [s.target_class] and s.target_label == model.labels[s.target_class]
        assert s.predicted_class == s.target_class  # target=None explains the prediction
        probabilities = model.predict(model.preprocess(images[stimuli.index(s) // 2]))[0].tolist()
        order = sorted(range(4), key=lambda c: -probabilities[c])
        assert s.alternatives == tuple(model.labels[c] for c in order[1:])  # the runners-up, most probable first
    # The stored settings reproduce the map exactly.
    first = stimuli[0]
    x = model.preprocess(images[0])
    again = attribute(model, x, Request.from_dict(first.settings["request"]), target=first.target_class)
    overlay = viz.overlay(model.to_display(x)[0], viz.normalize(again.to_maps()[0]), alpha=0.5, cmap="inferno")
    assert viz.to_png_bytes(overlay) == first.png
    info = create_study(db, StudySpec("Toy", "Pick.", trials_per_participant=2))
    assert publish(db, info.code, stimuli).items == 2  # one saliency-vs-grad_cam pair per image


def test_build_stimuli_errors() -> None:
    model = toy_wrapper(12, labels=["zero", "one", "two", "three"])
    image = Image.new("RGB", (12, 12))
    with pytest.raises(StudyError, match="must be a ModelWrapper"):
        build_stimuli(object(), [image], ["saliency"])  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="not in methods"):
        build_stimuli(model, [image], ["saliency"], {"grad_cam": {}})
    with pytest.raises(StudyError, match=r"images\[0\] must be a PIL image"):
        build_stimuli(model, [np.zeros((12, 12, 3))], ["saliency"])  # type: ignore[list-item]


# --- plans: order, counterbalancing, attention -------------------------------------------------------------------

POOL = [PoolItem(k, FORCED_CHOICE, False) for k in range(30)]
POOL += [PoolItem(100 + k, LIKERT, False) for k in range(12)]
POOL += [PoolItem(200 + k, LIKERT, True) for k in range(3)]


def test_plan_is_deterministic_and_differs_between_participants() -> None:
    plan = plan_trials(5, "alice", POOL, (FORCED_CHOICE, LIKERT), 11, 2)
    assert plan == plan_trials(5, "alice", POOL, (FORCED_CHOICE, LIKERT), 11, 2)
    assert plan != plan_trials(5, "bob", POOL, (FORCED_CHOICE, LIKERT), 11, 2)
    assert plan != plan_trials(6, "alice", POOL, (FORCED_CHOICE, LIKERT), 11, 2)
    assert [p.position for p in plan] == list(range(11))


def test_plan_respects_counts_quotas_and_attention_checks() -> None:
    for k in range(50):
        plan = plan_trials(1, f"p{k}", POOL, (FORCED_CHOICE, LIKERT), 11, 2)
        ids = [p.item_id for p in plan]
        assert len(ids) == len(set(ids)) == 11
        tasks = Counter("attention" if i >= 200 else FORCED_CHOICE if i < 100 else LIKERT for i in ids)
        assert tasks["attention"] == 2 and {tasks[FORCED_CHOICE], tasks[LIKERT]} == {4, 5}
        assert not any(p.swapped for p in plan if p.item_id >= 100)  # only regular forced choice is swapped


def test_left_right_is_balanced_within_and_across_participants() -> None:
    total, per_item = Counter(), Counter()
    for k in range(200):
        plan = plan_trials(3, f"participant-{k}", POOL, (FORCED_CHOICE,), 9, 0)
        sides = Counter(p.swapped for p in plan)
        assert abs(sides[True] - sides[False]) <= 1  # 9 trials: 5/4 or 4/5
        total.update(sides)
        per_item.update(p.item_id for p in plan if p.swapped)
    assert abs(total[True] - total[False]) <= 0.1 * (total[True] + total[False])
    shown = Counter(
        p.item_id for k in range(200) for p in plan_trials(3, f"participant-{k}", POOL, (FORCED_CHOICE,), 9, 0)
    )
    for item, count in shown.items():  # every item's placement is close to a fair coin over participants
        assert abs(per_item[item] / count - 0.5) < 0.25, (item, per_item[item], count)


# --- participant flow ----------------------------------------------------------------------------------------------


def test_same_participant_gets_the_same_order_in_any_database(tmp_path: Path) -> None:
    orders = []
    for name in ("one", "two"):
        database = open_database(f"sqlite:///{tmp_path / name}.db")
        code = _study(database, tasks=(FORCED_CHOICE, LIKERT), trials_per_participant=8)
        run = join(database, code, participant_id="PROLIFIC-42")
        orders.append(_run(database, run.token))
        database.dispose()
    assert orders[0] == orders[1] and len(orders[0]) == 8


def test_attention_checks_are_included_and_scored(db: Database) -> None:
    stimuli = synthetic_stimuli(images=4, methods=("a", "b"), size=8)
    checks = (
        AttentionCheck(LIKERT, "Attention: select 2.", 2, (0,)),
        AttentionCheck(FORCED_CHOICE, "Attention: pick the right-hand map.", "right", (0, 1)),
        AttentionCheck(FORWARD_SIMULATION, "Attention: pick 'banana'.", 1, (2,), ("apple", "banana")),
    )
    code = _study(db, stimuli, checks, tasks=(FORCED_CHOICE, LIKERT), trials_per_participant=8, attention_checks=3)
    run = join(db, code)
    prompts = []
    while (view := next_trial(db, run.token)) is not None:
        prompts.append(view.prompt)
        reply = {"Attention: select 2.": 2, "Attention: pick 'banana'.": 1}.get(view.prompt, _reply(view.task))
        answer(db, run.token, view.trial_id, reply)
    assert sum(p.startswith("Attention") for p in prompts) == 3 and len(prompts) == 8
    from xai_core.study import responses

    checked = [r for r in responses(db, code) if r.attention]
    assert len(checked) == 3
    assert {r.task: r.correct for r in checked} == {LIKERT: True, FORCED_CHOICE: False, FORWARD_SIMULATION: True}


def test_attention_check_errors_name_the_check(db: Database) -> None:
    info = create_study(db, StudySpec("T", "I", trials_per_participant=2, attention_checks=1))
    stimuli = synthetic_stimuli(images=2, methods=("a", "b"), size=8)
    with pytest.raises(StudyError, match=r"attention_checks\[0\].stimuli must be 2 index"):
        publish(db, info.code, stimuli, [AttentionCheck(FORCED_CHOICE, "p", "left", (0,))])
    with pytest.raises(StudyError, match=r"attention_checks\[0\].correct must be a rating"):
        publish(db, info.code, stimuli, [AttentionCheck(LIKERT, "p", 9, (0,))])


def test_trial_views_hide_methods_and_answers(db: Database) -> None:
    code = _study(db, tasks=(FORCED_CHOICE, LIKERT, FORWARD_SIMULATION), trials_per_participant=9)
    run = join(db, code)
    seen = set()
    while (view := next_trial(db, run.token)) is not None:
        seen.add(view.task)
        assert all(png.startswith(b"\x89PNG") for png in view.images)
        assert len(view.images) == (2 if view.task == FORCED_CHOICE else 1)
        assert "{label}" not in view.prompt and not {"a", "b", "c"} & set(view.options)
        if view.task == FORWARD_SIMULATION:
            assert len(view.options) == 4 and len(set(view.options)) == 4
        answer(db, run.token, view.trial_id, _reply(view.task))
    assert seen == {FORCED_CHOICE, LIKERT, FORWARD_SIMULATION}
    assert progress(db, run.token).finished


def test_answers_are_validated_against_the_task(db: Database) -> None:
    code = _study(db, tasks=(LIKERT,), trials_per_participant=2)
    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None
    for bad in (0, 6, "4", True, 3.0):
        with pytest.raises(StudyError, match="Likert answer must be an integer rating"):
            answer(db, run.token, view.trial_id, bad)  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="client_ms must be None or an integer"):
        answer(db, run.token, view.trial_id, 3, client_ms=-5)
    assert answer(db, run.token, view.trial_id, 3).recorded


def test_unshown_trials_cannot_be_answered(db: Database) -> None:
    code = _study(db, tasks=(LIKERT,), trials_per_participant=3)
    run = join(db, code)
    first = next_trial(db, run.token)
    assert first is not None
    with pytest.raises(StudyError, match="has not been shown yet"):
        answer(db, run.token, first.trial_id + 1, 3)


def test_rejoining_from_the_same_device_resumes_with_a_fresh_token(db: Database) -> None:
    code = _study(db, tasks=(FORCED_CHOICE,), trials_per_participant=5)
    device = "browser-key-0123456789abcdef"
    run = join(db, code, participant_id="worker-7", device=device)
    for _ in range(2):
        view = next_trial(db, run.token)
        assert view is not None
        answer(db, run.token, view.trial_id, "left")
    again = join(db, code, participant_id="worker-7", device=device)
    assert again.resumed and again.answered == 2 and again.token != run.token
    with pytest.raises(NotFoundError, match="unknown session token"):
        next_trial(db, run.token)
    view = next_trial(db, again.token)
    assert view is not None and view.position == 3


def test_consent_is_required_when_the_study_has_consent_text(db: Database) -> None:
    code = _study(db, consent="I agree to take part.", tasks=(LIKERT,), trials_per_participant=2)
    with pytest.raises(StudyError, match="needs the participant's consent"):
        join(db, code)
    assert join(db, code, consented=True).total == 2


def test_closing_stops_recruitment_but_lets_sessions_finish(db: Database) -> None:
    code = _study(db, tasks=(LIKERT,), trials_per_participant=2)
    device = "browser-key-0123456789abcdef"
    run = join(db, code, participant_id="early", device=device)
    assert close_study(db, code).status == "closed"
    with pytest.raises(StudyError, match="not accepting participants"):
        join(db, code)
    assert len(_run(db, run.token)) == 2
    assert join(db, code, participant_id="early", device=device).resumed  # a participant who started may come back


def test_stimuli_stored_as_file_paths_are_read_at_trial_time(db: Database, tmp_path: Path) -> None:
    stimuli = []
    for k, s in enumerate(synthetic_stimuli(images=2, methods=("a", "b"), size=8)):
        path = tmp_path / f"map{k}.png"
        path.write_bytes(s.png or b"")
        stimuli.append(Stimulus(s.method, s.image_hash, s.target_class, s.target_label, s.settings, path=str(path)))
    code = _study(db, stimuli, tasks=(LIKERT,), trials_per_participant=2)
    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None and view.images[0] in {p.read_bytes() for p in tmp_path.glob("map*.png")}
    for p in tmp_path.glob("map*.png"):
        p.unlink()
    with pytest.raises(StudyError, match=r"cannot read its image file '.*map"):
        next_trial(db, run.token)


def test_study_info_counts_participants(db: Database) -> None:
    from xai_core.study import get_study, list_studies

    code = _study(db, tasks=(LIKERT,), trials_per_participant=2)
    _run(db, join(db, code).token)
    join(db, code)
    info = get_study(db, code)
    assert (info.participants, info.finished, info.stimuli) == (2, 1, 12)
    assert [s.code for s in list_studies(db)] == [code]


def test_a_draft_can_be_discarded_but_a_published_study_cannot(db: Database) -> None:
    draft = create_study(db, StudySpec("Draft", "Do it.", trials_per_participant=1)).code
    discard_draft(db, draft)
    assert list_studies(db) == []
    code = create_study(db, StudySpec("Live", "Do it.", trials_per_participant=1)).code
    publish(db, code, synthetic_stimuli(images=1, methods=("saliency", "grad_cam")))
    with pytest.raises(StudyError, match="only a draft can be discarded"):
        discard_draft(db, code)
    with pytest.raises(NotFoundError):
        discard_draft(db, draft)
