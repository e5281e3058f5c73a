"""A real FastAPI service for the load client's framing cases (run under uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

app = FastAPI(title="raw-client-test-service")


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/echo")
async def echo(request: Request, response: Response) -> dict[str, object]:
    response.headers["server-timing"] = "infer;dur=2.5, queue;dur=0.5"
    return {"headers": dict(request.headers), "body": (await request.body()).decode()}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"piece {i};".encode()

    return StreamingResponse(pieces(), media_type="text/plain")  # chunked on the wire


@app.get("/big")
async def big() -> Response:
    return Response(b"x" * 300_000, media_type="application/octet-stream")


@app.get("/away")
async def away() -> RedirectResponse:
    return RedirectResponse("http://127.0.0.2:9/elsewhere", status_code=307)


@app.get("/close")
async def close() -> Response:
    return Response(b"{}", media_type="application/json", headers={"connection": "close"})
