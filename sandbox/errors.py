"""Errors the fake Bot API answers with, shaped exactly like Telegram's error replies."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by method implementations; the HTTP layer turns it into ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram would send for this error."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str, parameters: dict[str, Any] | None = None) -> ApiError:
    """400 with Telegram's ``Bad Request:`` prefix, so callers only write the interesting part."""
    return ApiError(400, f"Bad Request: {description}", parameters)


def forbidden(description: str) -> ApiError:
    """403 with Telegram's ``Forbidden:`` prefix (blocked bot, kicked from group, ...)."""
    return ApiError(403, f"Forbidden: {description}")
