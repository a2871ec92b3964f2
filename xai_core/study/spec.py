"""The records a study is designed from: ``StudySpec`` (what is asked), ``Stimulus`` (what is shown) and
``AttentionCheck`` (a trial with a known answer). Each validates itself and names the field that is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_core.study.errors import StudyError
from xai_core.study.tasks import FORCED_CHOICE, TASKS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _positive(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise StudyError(f"{name} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class StudySpec:
    """What a study asks. ``attention_checks`` is per participant and counts towards ``trials_per_participant``.

    ``prompts`` overrides ``DEFAULT_PROMPTS`` per task; ``{label}`` is replaced by the class the map explains.
    ``seed`` (random when None) fixes every participant's trial order; ``distractor_labels`` feeds the wrong
    options of forward simulation (when empty: each stimulus's ``alternatives``, the model's next most probable
    classes, else the other stimuli's labels).
    """

    title: str
    instructions: str
    tasks: tuple[str, ...] = (FORCED_CHOICE,)
    trials_per_participant: int = 20
    attention_checks: int = 0
    consent: str | None = None
    seed: int | None = None
    simulation_options: int = 4
    prompts: Mapping[str, str] = field(default_factory=dict)
    distractor_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip() or len(self.title) > 200:
            raise StudyError(f"title must be a non-empty string of at most 200 characters; got {self.title!r}")
        if not isinstance(self.instructions, str) or not self.instructions.strip():
            raise StudyError("instructions must be a non-empty string")
        if self.consent is not None and (not isinstance(self.consent, str) or not self.consent.strip()):
            raise StudyError("consent must be None or a non-empty string")
        tasks = tuple(self.tasks)
        if not tasks or len(set(tasks)) != len(tasks) or any(t not in TASKS for t in tasks):
            raise StudyError(f"tasks must be distinct names from {list(TASKS)}; got {list(tasks)}")
        _positive("trials_per_participant", self.trials_per_participant)
        _positive("attention_checks", self.attention_checks, minimum=0)
        if self.attention_checks >= self.trials_per_participant:
            raise StudyError(
                f"attention_checks ({self.attention_checks}) must be fewer than trials_per_participant "
                f"({self.trials_per_participant})"
            )
        _positive("simulation_options", self.simulation_options, minimum=2)
        if self.seed is not None and (isinstance(self.seed, bool) or not 0 <= self.seed < 2**63):
            raise StudyError(f"seed must be None or an integer in [0, 2**63); got {self.seed!r}")
        unknown = sorted(set(self.prompts) - set(TASKS))
        if unknown:
            raise StudyError(f"prompts has keys {unknown}; allowed are {list(TASKS)}")


@dataclass(frozen=True)
class Stimulus:
    """One precomputed map as participants will see it.

    Attributes:
        method: the attribution method's registry id (the unit of analysis).
        image_hash: ``xai_core.images.image_hash`` of the source image; forced-choice pairs share it.
        target_class / target_label: the class the map explains.
        settings: JSON-ready settings that reproduce the map (method, params, model, image hash, target, display).
        png: the overlay as PNG bytes, or ``path``: a PNG file readable by the app at trial time.
        predicted_class / predicted_label: the model's prediction (forward simulation's correct answer).
        image_png: the plain image, for pages that show it beside the map.
        alternatives: the model's next most probable labels for the image, most probable first: forward
            simulation's wrong options (plausible ones, which keep the task from being trivial).
    """

    method: str
    image_hash: str
    target_class: int
    target_label: str
    settings: Mapping[str, Any]
    png: bytes | None = None
    path: str | None = None
    predicted_class: int | None = None
    predicted_label: str | None = None
    image_png: bytes | None = None
    alternatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.png is None) == (self.path is None):
            raise StudyError(f"stimulus for {self.method!r} needs exactly one of png= or path=")
        if self.png is not None and not bytes(self.png[:8]) == PNG_SIGNATURE:
            raise StudyError(f"stimulus for {self.method!r}: png must be PNG bytes (signature {PNG_SIGNATURE!r})")
        if not self.method or not self.image_hash or not self.target_label:
            raise StudyError("stimulus needs a method, an image_hash and a target_label")
        try:
            json.dumps(dict(self.settings), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StudyError(f"stimulus settings for {self.method!r} must be plain JSON: {exc}") from None

    @property
    def answer_label(self) -> str:
        """What forward simulation counts as correct: the prediction, else the explained target."""
        return self.predicted_label or self.target_label


@dataclass(frozen=True)
class AttentionCheck:
    """A trial with a known answer. ``stimuli`` index the list given to ``publish`` (two for forced choice).

    ``correct`` is ``"left"``/``"right"`` (forced choice; shown without swapping), a rating (Likert) or an option
    index into ``options`` (forward simulation).
    """

    task: str
    prompt: str
    correct: str | int
    stimuli: tuple[int, ...]
    options: tuple[str, ...] = ()
