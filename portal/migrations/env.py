"""Alembic environment of the platform database (Flask-Migrate layout).

Runs under the Flask app: the engine and the metadata come from Flask-SQLAlchemy's
``db``. Differences from Flask-Migrate's template: the portal's own start-up upgrade
(``config.attributes["portal_programmatic"]``) does not reconfigure logging, and tables
owned by someone else (Flask-Session's ``sessions``) are invisible to autogenerate.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from portal.registry.database import UNMANAGED_TABLES

config = context.config

if config.config_file_name and not config.attributes.get("portal_programmatic"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Leave tables we do not own (and their indexes) out of autogenerate."""
    if type_ == "table":
        return name not in UNMANAGED_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name not in UNMANAGED_TABLES


def run_migrations_offline():
    """Emit SQL for the migrations without a database connection (``--sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        include_object=include_object,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the app's engine, in one transaction."""

    # Do not write an empty migration when autogenerate finds no change.
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("include_object", include_object)

    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
