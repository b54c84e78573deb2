"""A restaurant's message texts: each kind's text per channel and language (or that language's default) with
a preview, and each message on or off per channel (whatever the language).

A text edited in one language replaces the default of that language only: a guest who joined in another
language still gets the default of theirs (or the restaurant's own text in it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from waitline.domain.message import MessageKind, NoticePolicy
from waitline.message_texts import default_text, fill
from waitline.store import holds, texts
from waitline.store.engine import Database

CHANNELS = ("sms", "email", "push")
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

    async def settings(
        self, *, restaurant_id: uuid.UUID, restaurant_name: str, language: str
    ) -> list[TextSetting]:
        """Each message on each channel: its text in ``language`` and whether it goes out."""
        async with self._database.snapshot() as connection:
            own = await texts.texts(connection=connection, restaurant_id=restaurant_id, language=language)
        settings = []
        for kind in MessageKind:
            for channel in CHANNELS:
                body = own.bodies.get((kind.value, channel))
                text = body or default_text(kind, language)
                enabled = own.enabled.get((kind.value, channel), True)
                preview_text = preview(text, restaurant_name, language)
                settings.append(TextSetting(kind, channel, text, body is not None, enabled, preview_text))
        return settings

    async def policy(self, *, restaurant_id: uuid.UUID) -> NoticePolicy:
        async with self._database.snapshot() as connection:
            return await holds.notice_policy(connection=connection, restaurant_id=restaurant_id)

    async def set_policy(self, *, restaurant_id: uuid.UUID, policy: NoticePolicy) -> None:
        """The hold window (0-120 minutes), automatic no-shows, and the "almost up" position (0-20)."""
        if not (0 <= policy.hold_minutes <= MAX_HOLD_MINUTES and 0 <= policy.almost_up <= MAX_ALMOST_UP):
            raise ValueError("out of range")
        async with self._database.transaction() as connection:
            await holds.set_notice_policy(connection=connection, restaurant_id=restaurant_id, policy=policy)

    async def save(self, *, restaurant_id: uuid.UUID, language: str, changes: list[TextChange]) -> None:
        """The switches, and the texts as written in ``language`` (blank or the default: the default)."""
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
                    language=language,
                    body=None if not text or text == default_text(change.kind, language) else text,
                    enabled=change.enabled,
                )


def preview(text: str, restaurant_name: str, language: str) -> str:
    values: Mapping[str, object] = {**SAMPLE, "restaurant": restaurant_name}
    return fill(text, values, language)
