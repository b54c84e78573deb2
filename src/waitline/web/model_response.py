"""Responses of the hot routes (a join, a guest's status, call-next) serialised once.

FastAPI, given a model to return, dumps it to Python values, validates those again against the route's
``response_model``, serialises them to Python values once more and hands them to ``json.dumps``. Here
pydantic-core writes the model's JSON straight to bytes, in one pass. The route keeps its ``response_model``
(so the OpenAPI document is the same), and the bytes are the ones FastAPI would send: camelCase aliases,
compact, UTF-8 (tests/test_openapi_contract.py checks answers against the document).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import Response
from pydantic import BaseModel


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(
        self, model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(model.__pydantic_serializer__.to_json(model, by_alias=True), status_code, headers)
