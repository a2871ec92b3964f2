"""Per-participant trial plans: which items, in what order, and which map goes on the left.

Every random choice is a sort by SHA-256 of ``(study seed, participant code, purpose, key)``, so a plan depends on
nothing but those values: the same participant gets the same plan on any machine, Python or NumPy version.
(The plan is also stored in ``trials`` when a participant joins, so resuming never recomputes it.)

- Items: ``trials_per_participant - attention_checks`` regular items, split as evenly as possible over the study's
  tasks (which tasks get the remainder is drawn per participant), each task's items drawn without replacement.
- Attention checks: ``attention_checks`` distinct attention items.
- Order: all of them shuffled together.
- Left/right: a participant's forced-choice trials alternate between the canonical placement (stimulus a on the
  left) and the swapped one in a shuffled order, so the two placements differ by at most one within a participant;
  which placement gets the odd trial is drawn per participant, so the totals balance across participants as well,
  and each item's placement is a fair coin over participants. Attention checks are never swapped: their correct
  answer is a side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from xai_core.study.tasks import FORCED_CHOICE

T = TypeVar("T")


def _key(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def hashed_order(values: Sequence[T], *salt: object) -> list[T]:
    """``values`` in a pseudo-random order fixed by ``salt`` (a deterministic shuffle)."""
    return [v for _, v in sorted(((_key(*salt, repr(v)), v) for v in values), key=lambda pair: pair[0])]


@dataclass(frozen=True)
class PoolItem:
    """An item of a published study, as the planner needs it."""

    id: int
    task: str
    is_attention: bool


@dataclass(frozen=True)
class PlannedTrial:
    item_id: int
    position: int
    swapped: bool


def task_quotas(seed: int, participant: str, tasks: Sequence[str], regular: int) -> dict[str, int]:
    """Regular trials per task: ``regular // len(tasks)`` each, the remainder to tasks drawn per participant."""
    base, extra = divmod(regular, len(tasks))
    lucky = set(hashed_order(list(tasks), seed, participant, "quota")[:extra])
    return {task: base + (task in lucky) for task in tasks}


def plan_trials(
    seed: int, participant: str, items: Sequence[PoolItem], tasks: Sequence[str], total: int, attention: int
) -> list[PlannedTrial]:
    """The ordered, counterbalanced trials of one participant (see the module docstring)."""
    chosen: list[PoolItem] = []
    for task, quota in task_quotas(seed, participant, tasks, total - attention).items():
        pool = [i for i in items if i.task == task and not i.is_attention]
        if len(pool) < quota:
            raise ValueError(f"{task} has {len(pool)} items; participant plan needs {quota}")
        chosen += _draw(pool, quota, seed, participant, "pick")
    checks = [i for i in items if i.is_attention]
    if len(checks) < attention:
        raise ValueError(f"the pool has {len(checks)} attention items; participant plan needs {attention}")
    chosen += _draw(checks, attention, seed, participant, "attention")
    ordered = _draw(chosen, len(chosen), seed, participant, "order")
    pairs = [i for i in ordered if i.task == FORCED_CHOICE and not i.is_attention]
    odd = _key(seed, participant, "odd")[0] & 1
    swapped = {
        item.id: (k + odd) % 2 == 1 for k, item in enumerate(_draw(pairs, len(pairs), seed, participant, "side"))
    }
    return [PlannedTrial(item.id, position, swapped.get(item.id, False)) for position, item in enumerate(ordered)]


def _draw(pool: Sequence[PoolItem], count: int, *salt: Hashable) -> list[PoolItem]:
    return sorted(pool, key=lambda item: _key(*salt, item.id))[:count]
