"""``Statement``: one SQL text, written once, rendered for each dialect.

``{now}`` becomes the dialect's current time and ``{skip_locked}`` PostgreSQL's ``FOR UPDATE SKIP LOCKED``
(SQLite has no row locks: a writing transaction there already holds the database's write lock, taken by
``BEGIN IMMEDIATE``). Every value is a bound parameter; SQLite ids are canonical UUID text.
"""

from __future__ import annotations

import re

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT_FILLERS = {
    "postgresql": {"{now}": "now()", "{skip_locked}": "FOR UPDATE SKIP LOCKED", "{for_update}": "FOR UPDATE"},
    "sqlite": {"{now}": "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", "{skip_locked}": "", "{for_update}": ""},
}


# A bound parameter in a statement's text (``:name``, not the ``::type`` of a cast).
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Statement:
    """One SQL text, rendered once per dialect; ``expanding`` names the parameters that take lists.

    ``positional`` is the PostgreSQL text with ``$1, $2…`` for asyncpg itself, and the parameter names in
    that order (store/driver.py runs the hot statements so)."""

    def __init__(self, template: str, *expanding: str) -> None:
        self._by_dialect: dict[str, TextClause] = {}
        self.positional: tuple[str, tuple[str, ...]] | None = None
        for dialect, fillers in _DIALECT_FILLERS.items():
            sql = template
            for marker, value in fillers.items():
                sql = sql.replace(marker, value)
            if dialect == "postgresql" and not expanding:
                self.positional = _numbered(sql)
            clause = text(sql)
            if expanding:
                clause = clause.bindparams(*(bindparam(name, expanding=True) for name in expanding))
            self._by_dialect[dialect] = clause

    def on(self, connection: AsyncConnection) -> TextClause:
        return self._by_dialect[connection.dialect.name]


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


def is_postgresql(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"
