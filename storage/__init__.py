"""All SQL lives here: the Store, its repositories and the numbered migrations."""

from storage.dbtime import from_db_time, to_db_time, utc_now
from storage.migrate import Migration, MigrationError
from storage.store import Store, UnusableDatabase

__all__ = ["Migration", "MigrationError", "Store", "UnusableDatabase", "from_db_time", "to_db_time", "utc_now"]
