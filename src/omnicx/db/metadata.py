import sqlalchemy as sa

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)
"""Every table of the main database; each domain's store adds its own."""

queue_metadata = sa.MetaData(naming_convention=NAMING)
"""The ingestion queue: on SQLite a file of its own, so acknowledging never waits on the worker."""
