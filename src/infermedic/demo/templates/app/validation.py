"""Invalid requests answer 422 with what was wrong, without echoing the input back."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def answer_invalid_requests_with_422(app: FastAPI) -> None:
    """FastAPI's default 422 body repeats the input; a NaN there cannot be encoded as JSON
    and the 422 becomes a 500. This handler lists the errors without the input."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)
