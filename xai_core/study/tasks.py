"""Task names, answer formats and default prompts shared by design, participation and analysis."""

from __future__ import annotations

FORCED_CHOICE = "forced_choice"
LIKERT = "likert"
FORWARD_SIMULATION = "forward_simulation"
TASKS = (FORCED_CHOICE, LIKERT, FORWARD_SIMULATION)
SIDES = ("left", "right")
LIKERT_SCALE = (1, 2, 3, 4, 5)
DEFAULT_PROMPTS = {
    FORCED_CHOICE: "Which map better explains why the model predicted {label}?",
    LIKERT: "How well does this map explain why the model predicted {label}? (1 = not at all, 5 = completely)",
    FORWARD_SIMULATION: "The coloured regions show what the model relied on. Which class did the model predict?",
}
