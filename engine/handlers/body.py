"""Request bodies checked against their schema (compiled once) before a handler uses them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.config.instance import instance_validator
from engine.errors import InvalidRequest
from engine.http.messages import Request


class BodySchema:
    """Calling it returns the request's JSON body, or raises a 400 naming the bad field."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.check = instance_validator(schema)

    def __call__(self, req: Request) -> dict[str, Any]:
        body = req.json()
        problem = self.check(body)
        if problem is not None:
            raise InvalidRequest(problem[1], param=problem[0])
        return body
