"""Twilio's webhooks: a guest's text reply (``POST /webhooks/twilio/sms``) and the delivery state of each
message (``POST /webhooks/twilio/status``).

Both are form-encoded and signed: ``X-Twilio-Signature`` is checked against WAITLINE_TWILIO_AUTH_TOKEN over
WAITLINE_PUBLIC_URL + the path (and query) + the sorted form fields. Unsigned or wrongly signed: 403, and
nothing changes. A signed reply is answered 200 with empty TwiML whatever it did, so the answer never tells
whether a number is in a queue.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from waitline.config import Settings
from waitline.sms import signed_by_twilio
from waitline.web import problems
from waitline.web.dependencies import ServicesDep

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=False)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed_form(request: Request) -> dict[str, str] | None:
    """The form fields if Twilio signed this request, else None."""
    settings: Settings = request.app.state.settings
    if not settings.twilio_configured or settings.twilio_auth_token is None:
        return None
    form = await request.form()
    fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = settings.twilio_auth_token.get_secret_value()
    if not signed_by_twilio(token, url, fields, request.headers.get("X-Twilio-Signature")):
        return None
    return dict(fields)


def _refused() -> Response:
    return problems.problem_response(
        status=403,
        code="bad-signature",
        title="Not signed by Twilio",
        detail="X-Twilio-Signature is missing or does not match this request.",
    )


@router.post("/sms")
async def text_received(request: Request, services: ServicesDep) -> Response:
    fields = await _signed_form(request)
    if fields is None:
        return _refused()
    mobile, text = fields.get("From", "").strip(), fields.get("Body", "")
    if mobile:
        await services.replies.text_received(mobile=mobile, text=text)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status")
async def delivery_reported(request: Request, services: ServicesDep) -> Response:
    fields = await _signed_form(request)
    if fields is None:
        return _refused()
    provider_id = fields.get("MessageSid", "")
    if provider_id:
        await services.replies.delivery_reported(
            provider_id=provider_id,
            status=fields.get("MessageStatus", ""),
            error_code=fields.get("ErrorCode"),
        )
    return Response(status_code=204)
