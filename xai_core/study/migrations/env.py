"""Alembic environment for study storage.

``storage.upgrade_to_head`` hands a live connection in ``config.attributes["connection"]``. Run by hand, the
database is ``sqlalchemy.url`` from the Alembic config if set, else ``$XAI_STUDY_DB_URL`` or the default SQLite
file (``storage.resolve_url``); ``--sql`` (offline mode) prints the DDL instead of running it.
"""

from __future__ import annotations

from alembic import context

from xai_core.study.schema import Base
from xai_core.study.storage import make_engine, resolve_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or resolve_url().render_as_string(hide_password=False)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
