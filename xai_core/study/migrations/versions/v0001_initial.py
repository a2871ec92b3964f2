"""Initial study tables: studies, stimuli, items, participants, sessions, trials, responses.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _now() -> sa.TextClause:
    # The database clock with milliseconds: SQLite's CURRENT_TIMESTAMP has whole seconds only.
    if op.get_context().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("CURRENT_TIMESTAMP")


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=_now(), nullable=False)


def _fk(column: str, table: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("consent", sa.Text, nullable=True),
        sa.Column("tasks", sa.JSON, nullable=False),
        sa.Column("prompts", sa.JSON, nullable=False),
        sa.Column("trials_per_participant", sa.Integer, nullable=False),
        sa.Column("attention_checks", sa.Integer, nullable=False),
        sa.Column("simulation_options", sa.Integer, nullable=False),
        sa.Column("distractor_labels", sa.JSON, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _stamp("created_at"),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published', 'closed')", name="status"),
    )
    op.create_table(
        "stimuli",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("study_id", "studies"),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("image_hash", sa.String(64), nullable=False),
        sa.Column("target_class", sa.Integer, nullable=False),
        sa.Column("target_label", sa.String(200), nullable=False),
        sa.Column("predicted_class", sa.Integer, nullable=True),
        sa.Column("predicted_label", sa.String(200), nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=True),
        sa.Column("path", sa.String(1000), nullable=True),
        sa.Column("image_png", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("study_id", "position"),
        sa.CheckConstraint("png IS NOT NULL OR path IS NOT NULL", name="png_or_path"),
    )
    op.create_index("ix_stimuli_study_id", "stimuli", ["study_id"])
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("study_id", "studies"),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("is_attention", sa.Boolean, nullable=False),
        _fk("stimulus_a_id", "stimuli"),
        _fk("stimulus_b_id", "stimuli", nullable=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("correct", sa.JSON, nullable=True),
    )
    op.create_index("ix_items_study_id", "items", ["study_id"])
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("study_id", "studies"),
        sa.Column("code", sa.String(200), nullable=False),
        _stamp("created_at"),
        sa.UniqueConstraint("study_id", "code"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("study_id", "studies"),
        _fk("participant_id", "participants"),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        _stamp("started_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sessions_study_id", "sessions", ["study_id"])
    op.create_index("ix_sessions_participant_id", "sessions", ["participant_id"])
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("session_id", "sessions"),
        _fk("item_id", "items"),
        sa.Column("position", sa.Integer, nullable=False),
        _fk("left_stimulus_id", "stimuli"),
        _fk("right_stimulus_id", "stimuli", nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("session_id", "position"),
        sa.UniqueConstraint("id", "session_id"),
    )
    op.create_index("ix_trials_item_id", "trials", ["item_id"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("session_id", "sessions"),
        sa.Column("trial_id", sa.Integer, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("choice", sa.String(8), nullable=True),
        _fk("chosen_stimulus_id", "stimuli", nullable=True),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.Column("option", sa.Integer, nullable=True),
        sa.Column("correct", sa.Boolean, nullable=True),
        sa.Column("client_ms", sa.Integer, nullable=True),
        sa.Column("server_ms", sa.Integer, nullable=True),
        _stamp("created_at"),
        sa.UniqueConstraint("session_id", "trial_id"),
        sa.ForeignKeyConstraint(["trial_id", "session_id"], ["trials.id", "trials.session_id"], ondelete="CASCADE"),
    )
    op.create_index("ix_responses_trial_id", "responses", ["trial_id"])


def downgrade() -> None:
    for table in ("responses", "trials", "sessions", "participants", "items", "stimuli", "studies"):
        op.drop_table(table)
