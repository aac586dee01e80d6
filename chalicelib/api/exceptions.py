"""Client errors the API's model raises; the HTTP edge turns them into 4xx JSON answers.

They derive from ChaliceUnhandledError, the one kind Chalice lets propagate from a view to
its middleware (any other exception becomes a 500 before middleware could see it).
"""

from __future__ import annotations

from chalice import ChaliceUnhandledError


class ApiError(ChaliceUnhandledError):
    """Something the client asked for cannot be served; never a fault of the server."""

    status = 400
    code = "BadRequestError"

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter

    def body(self) -> dict[str, str]:
        body = {"Code": self.code, "Message": self.message}
        if self.parameter:
            body["parameter"] = self.parameter
        return body


class BadRequest(ApiError):
    """A parameter is missing, malformed or out of bounds."""


class NotFound(ApiError):
    """The resource named by the path does not exist."""

    status = 404
    code = "NotFoundError"
