"""A restaurant's message texts: each kind's text (or the default) with a preview, on or off per channel."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from waitline.domain.message import DEFAULT_TEXTS, MessageKind, NoticePolicy, render
from waitline.store import holds, texts
from waitline.store.engine import Database

CHANNELS = ("sms", "email")
MAX_TEXT_CHARS = 480  # three SMS segments
MAX_HOLD_MINUTES = 120
MAX_ALMOST_UP = 20
# What the preview fills the placeholders with.
SAMPLE = {"name": "Ada", "token": 42, "position": 3, "link": "https://queue.example.com/your-place/e/…"}


@dataclass(frozen=True)
class TextSetting:
    kind: MessageKind
    channel: str
    text: str  # the restaurant's, or the default
    own: bool  # the restaurant wrote it
    enabled: bool
    preview: str


@dataclass(frozen=True)
class TextChange:
    kind: MessageKind
    channel: str
    text: str  # blank: back to the default
    enabled: bool


class TextTooLong(ValueError):
    pass


class Texts:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def settings(self, *, restaurant_id: uuid.UUID, restaurant_name: str) -> list[TextSetting]:
        async with self._database.snapshot() as connection:
            own = await texts.texts(connection=connection, restaurant_id=restaurant_id)
        return [
            _setting(kind, channel, own.get((kind.value, channel)), restaurant_name)
            for kind in MessageKind
            for channel in CHANNELS
        ]

    async def policy(self, *, restaurant_id: uuid.UUID) -> NoticePolicy:
        async with self._database.snapshot() as connection:
            return await holds.notice_policy(connection=connection, restaurant_id=restaurant_id)

    async def set_policy(self, *, restaurant_id: uuid.UUID, policy: NoticePolicy) -> None:
        """The hold window (0-120 minutes), automatic no-shows, and the "almost up" position (0-20)."""
        if not (0 <= policy.hold_minutes <= MAX_HOLD_MINUTES and 0 <= policy.almost_up <= MAX_ALMOST_UP):
            raise ValueError("out of range")
        async with self._database.transaction() as connection:
            await holds.set_notice_policy(connection=connection, restaurant_id=restaurant_id, policy=policy)

    async def save(self, *, restaurant_id: uuid.UUID, changes: list[TextChange]) -> None:
        for change in changes:
            if len(change.text) > MAX_TEXT_CHARS:
                raise TextTooLong(change.kind.value)
        async with self._database.transaction() as connection:
            for change in changes:
                text = change.text.strip()
                await texts.save(
                    connection=connection,
                    restaurant_id=restaurant_id,
                    kind=change.kind.value,
                    channel=change.channel,
                    body=None if not text or text == DEFAULT_TEXTS[change.kind] else text,
                    enabled=change.enabled,
                )


def preview(text: str, restaurant_name: str) -> str:
    values: Mapping[str, object] = {**SAMPLE, "restaurant": restaurant_name}
    return render(text, values)


def _setting(kind: MessageKind, channel: str, own: tuple[str | None, bool] | None, name: str) -> TextSetting:
    body, enabled = own if own is not None else (None, True)
    text = body or DEFAULT_TEXTS[kind]
    return TextSetting(kind, channel, text, body is not None, enabled, preview(text, name))
