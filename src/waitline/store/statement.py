"""``Statement``: one SQL text, written once, rendered for each dialect.

``{now}`` becomes the dialect's current time and ``{skip_locked}`` PostgreSQL's ``FOR UPDATE SKIP LOCKED``
(SQLite has no row locks: a writing transaction there already holds the database's write lock, taken by
``BEGIN IMMEDIATE``). Every value is a bound parameter; SQLite ids are canonical UUID text.
"""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT_FILLERS = {
    "postgresql": {"{now}": "now()", "{skip_locked}": "FOR UPDATE SKIP LOCKED", "{for_update}": "FOR UPDATE"},
    "sqlite": {"{now}": "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", "{skip_locked}": "", "{for_update}": ""},
}


class Statement:
    """One SQL text, rendered once per dialect; ``expanding`` names the parameters that take lists."""

    def __init__(self, template: str, *expanding: str) -> None:
        self._by_dialect: dict[str, TextClause] = {}
        for dialect, fillers in _DIALECT_FILLERS.items():
            sql = template
            for marker, value in fillers.items():
                sql = sql.replace(marker, value)
            clause = text(sql)
            if expanding:
                clause = clause.bindparams(*(bindparam(name, expanding=True) for name in expanding))
            self._by_dialect[dialect] = clause

    def on(self, connection: AsyncConnection) -> TextClause:
        return self._by_dialect[connection.dialect.name]


def is_postgresql(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"
