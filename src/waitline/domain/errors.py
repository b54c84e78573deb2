"""Every error the domain knows; the docstring of each is the message shown to the client."""

from __future__ import annotations

from datetime import datetime


class WaitlineError(Exception):
    """Base of every domain error; the docstring is the message shown to the client."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        super().__init__(self.detail)


class RestaurantNotFound(WaitlineError):
    """No restaurant has this address."""


class EntryNotFound(WaitlineError):
    """No queue entry has this id at this restaurant."""


class QueueClosed(WaitlineError):
    """This queue is not taking new guests right now."""

    def __init__(
        self, detail: str | None = None, *, outside_hours: bool = False, opens_at: datetime | None = None
    ) -> None:
        super().__init__(detail)
        # Closed by its opening hours (not paused by staff); when it opens next, in the location's time
        # zone, unless no opening is set ahead.
        self.outside_hours = outside_hours or opens_at is not None
        self.opens_at = opens_at


class OutsideHours(WaitlineError):
    """The queue is closed at this hour."""


class QueueFull(WaitlineError):
    """The queue is full right now. Please try again a little later."""


class PartyTooLarge(WaitlineError):
    """This party is larger than the restaurant takes in its queue. Please speak to the staff."""


class TransitionNotAllowed(WaitlineError):
    """This entry's status does not allow that action (someone may have acted on it first)."""

    def __init__(
        self, detail: str | None = None, *, token_number: int | None = None, status: str | None = None
    ):
        super().__init__(detail)
        # What the entry is now, for a page that says so in words ("token 12 is already seated").
        self.token_number = token_number
        self.status = status


class IdempotencyKeyReused(WaitlineError):
    """This idempotency key was already used for a different request."""


class SlugTaken(WaitlineError):
    """A restaurant with this slug already exists."""


class InvalidMobileNumber(WaitlineError):
    """The mobile number is not a valid phone number."""


class UnstorableInput(WaitlineError):
    """The request holds characters or values that cannot be stored (for example a NUL character)."""


class ServiceUnavailable(WaitlineError):
    """The queue's database is not answering right now; please try again in a moment."""


class NotAuthenticated(WaitlineError):
    """A valid staff token is required (Authorization: Bearer <token>)."""


class NotPermitted(WaitlineError):
    """This staff token belongs to another restaurant."""


class AlreadyInQueue(WaitlineError):
    """This mobile number already has a place in this queue: use the link from that join to follow it."""


class LoginFailed(WaitlineError):
    """That email and password do not match a staff account of this restaurant."""


class LoginThrottled(WaitlineError):
    """Too many failed sign-in attempts for this email from this device. Please wait and try again."""

    def __init__(self, *, retry_after_seconds: int) -> None:
        minutes = max(1, -(-retry_after_seconds // 60))
        super().__init__(
            "Too many failed sign-in attempts for this email from this device. "
            f"Please try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.retry_after_seconds = retry_after_seconds


class QueueChanged(WaitlineError):
    """Another device called a party first; the list now shows who. Press again to call the next one."""


class StaffExists(WaitlineError):
    """A staff account with this email already exists for this restaurant."""


class PasswordUnacceptable(WaitlineError):
    """Passwords must be 10 to 1024 characters long."""


class OwnerExists(WaitlineError):
    """An owner with this email exists already."""


class LastOwner(WaitlineError):
    """An organisation keeps at least one owner: invite another owner before removing this one."""


class InviteInvalid(WaitlineError):
    """This invitation link is unknown, used already or expired. Ask for a new one."""


class SettingsInvalid(WaitlineError):
    """These settings cannot be saved."""
