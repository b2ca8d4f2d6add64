"""A database that becomes unreachable without stopping a server: a migrated SQLite file whose
folder is moved away. Every new connection then fails with the driver's OperationalError, as a
stopped PostgreSQL's do; the open ones are closed first (`stop`)."""

import shutil
from pathlib import Path

from sqlalchemy import Engine


class MovableDatabase:
    def __init__(self, template: Path, folder: Path) -> None:
        self.folder = folder
        self.away = folder.with_name(folder.name + "-away")
        folder.mkdir()
        shutil.copyfile(template, folder / "paredao.db")
        self.url = f"sqlite:///{folder / 'paredao.db'}"

    def stop(self, engine: Engine) -> None:
        """Unreachable from now on for `engine` (its pool closed: no connection left open)."""
        engine.dispose()
        self.folder.rename(self.away)

    def start(self) -> None:
        self.away.rename(self.folder)
