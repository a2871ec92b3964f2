"""The item pool of a published study: forced-choice pairs, Likert items, forward-simulation items with their
options, and attention checks; plus the checks that the pool can fill every participant's plan, before the maps
are computed (``check_plan``: counts only) and at publish (``check_capacity``: the items built)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from xai_core.study import schema as orm
from xai_core.study.errors import StudyError
from xai_core.study.ordering import hashed_order
from xai_core.study.spec import AttentionCheck, Stimulus, StudySpec
from xai_core.study.tasks import FORCED_CHOICE, FORWARD_SIMULATION, LIKERT, LIKERT_SCALE, SIDES, TASKS


def _distractors(study: orm.Study, stimuli: Sequence[Stimulus]) -> list[str]:
    given = list(study.distractor_labels)
    pool = given or sorted({s.answer_label for s in stimuli} | {s.target_label for s in stimuli})
    return list(dict.fromkeys(pool))


def _simulation_options(
    study: orm.Study, position: int, stimulus: Stimulus, pool: Sequence[str]
) -> tuple[list[str], int]:
    """The shuffled options of one forward-simulation item and the index of the right one.

    The wrong options are the admin's ``distractor_labels`` (drawn per item) when given, else the model's next most
    probable classes for this image (the hardest plausible ones), else labels of the other stimuli.
    """
    answer = stimulus.answer_label
    needed = study.simulation_options - 1
    alternatives = [a for a in dict.fromkeys(stimulus.alternatives) if a != answer]
    if not study.distractor_labels and len(alternatives) >= needed:
        chosen = alternatives[:needed]
    else:
        wrong = [label for label in pool if label != answer]
        if len(wrong) < needed:
            raise StudyError(
                f"forward simulation needs {needed} wrong labels besides {answer!r}; only {len(wrong)} distinct "
                "labels are available: pass StudySpec(distractor_labels=...) or lower simulation_options"
            )
        chosen = hashed_order(wrong, study.seed, "distractors", position)[:needed]
    options = hashed_order([answer, *chosen], study.seed, "options", position)
    return options, options.index(answer)


def _prompt(study: orm.Study, task: str, label: str) -> str:
    return str(study.prompts[task]).replace("{label}", label)  # not str.format: other braces stay as written


def _pairs(study: orm.Study, rows: Sequence[orm.Stimulus], stimuli: Sequence[Stimulus]) -> list[orm.Item]:
    """One item per pair of different methods over the same (image, target); a is the alphabetically first."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, stim in enumerate(stimuli):
        groups[(stim.image_hash, stim.target_class)].append(index)
    items = []
    for members in groups.values():
        members.sort(key=lambda i: (stimuli[i].method, i))
        for k, a in enumerate(members):
            for b in members[k + 1 :]:
                if stimuli[a].method == stimuli[b].method:
                    continue
                prompt = _prompt(study, FORCED_CHOICE, stimuli[a].target_label)
                items.append(
                    orm.Item(
                        task=FORCED_CHOICE,
                        stimulus_a_id=rows[a].id,
                        stimulus_b_id=rows[b].id,
                        prompt=prompt,
                        options=list(SIDES),
                    )
                )
    return items


def regular_items(study: orm.Study, rows: Sequence[orm.Stimulus], stimuli: Sequence[Stimulus]) -> list[orm.Item]:
    """The non-attention items of every task of the study, for stimuli ``stimuli`` stored as ``rows``."""
    items = _pairs(study, rows, stimuli) if FORCED_CHOICE in study.tasks else []
    if LIKERT in study.tasks:
        scale = [str(v) for v in LIKERT_SCALE]
        items += [
            orm.Item(task=LIKERT, stimulus_a_id=row.id, prompt=_prompt(study, LIKERT, stim.target_label), options=scale)
            for row, stim in zip(rows, stimuli, strict=True)
        ]
    if FORWARD_SIMULATION in study.tasks:
        pool = _distractors(study, stimuli)
        for index, (row, stim) in enumerate(zip(rows, stimuli, strict=True)):
            options, correct = _simulation_options(study, index, stim, pool)
            prompt = _prompt(study, FORWARD_SIMULATION, stim.target_label)
            items.append(
                orm.Item(task=FORWARD_SIMULATION, stimulus_a_id=row.id, prompt=prompt, options=options, correct=correct)
            )
    for item in items:
        item.is_attention = False
    return items


def attention_item(check: AttentionCheck, rows: Sequence[orm.Stimulus], number: int) -> orm.Item:
    where = f"attention_checks[{number}]"
    if check.task not in TASKS:
        raise StudyError(f"{where}.task must be one of {list(TASKS)}; got {check.task!r}")
    wanted = 2 if check.task == FORCED_CHOICE else 1
    if len(check.stimuli) != wanted or any(not 0 <= i < len(rows) for i in check.stimuli):
        raise StudyError(
            f"{where}.stimuli must be {wanted} index(es) into the {len(rows)} stimuli; got {check.stimuli}"
        )
    options: list[str] = list(SIDES) if check.task == FORCED_CHOICE else [str(v) for v in LIKERT_SCALE]
    correct: Any = check.correct
    if check.task == FORWARD_SIMULATION:
        options = list(check.options)
        valid = isinstance(correct, int) and not isinstance(correct, bool) and 0 <= correct < len(options)
        if len(options) < 2 or not valid:
            raise StudyError(f"{where} needs >= 2 options and correct as an index into them; got {check}")
    elif check.task == LIKERT and correct not in LIKERT_SCALE:
        raise StudyError(f"{where}.correct must be a rating in {list(LIKERT_SCALE)}; got {correct!r}")
    elif check.task == FORCED_CHOICE and correct not in SIDES:
        raise StudyError(f"{where}.correct must be 'left' or 'right'; got {correct!r}")
    second = rows[check.stimuli[1]].id if wanted == 2 else None
    return orm.Item(
        task=check.task,
        is_attention=True,
        stimulus_a_id=rows[check.stimuli[0]].id,
        stimulus_b_id=second,
        prompt=check.prompt,
        options=options,
        correct=correct,
    )


def _check_counts(trials: int, attention: int, tasks: Sequence[str], available: dict[str, int]) -> None:
    regular = trials - attention
    quota = math.ceil(regular / len(tasks))
    for task in tasks:
        if available.get(task, 0) < quota:
            raise StudyError(
                f"{task} has {available.get(task, 0)} items but each participant needs up to {quota} "
                f"({regular} regular trials over {len(tasks)} task(s)): add images or methods, or lower "
                "trials_per_participant"
            )


def check_capacity(study: orm.Study, items: Sequence[orm.Item]) -> None:
    available = {t: sum(1 for i in items if i.task == t and not i.is_attention) for t in study.tasks}
    _check_counts(study.trials_per_participant, study.attention_checks, study.tasks, available)
    checks = sum(1 for i in items if i.is_attention)
    if checks < study.attention_checks:
        raise StudyError(f"the study asks for {study.attention_checks} attention checks; publish was given {checks}")


def check_plan(spec: StudySpec, images: int, methods: int) -> None:
    """Raise the StudyError ``publish`` would raise for ``images`` x ``methods`` stimuli, before any map exists.

    Every method maps every image for one target, so there are ``images * C(methods, 2)`` forced-choice pairs and
    ``images * methods`` Likert and forward-simulation items. Forward simulation's wrong options come from the
    model's next most probable classes (``build_stimuli`` stores nine per image), so only given
    ``distractor_labels`` can fall short here.
    """
    available = {
        FORCED_CHOICE: images * math.comb(methods, 2),
        LIKERT: images * methods,
        FORWARD_SIMULATION: images * methods,
    }
    _check_counts(spec.trials_per_participant, spec.attention_checks, spec.tasks, available)
    needed = spec.simulation_options - 1
    if FORWARD_SIMULATION in spec.tasks and spec.distractor_labels and len(set(spec.distractor_labels)) < needed:
        raise StudyError(
            f"forward simulation needs {needed} wrong labels per item; distractor_labels has "
            f"{len(set(spec.distractor_labels))}: add labels or lower simulation_options"
        )
