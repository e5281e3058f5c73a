"""Run uvicorn on a listening TCP socket inherited from the parent process.

`python -m infermedic.demo.launch FD [APP]`, run from a scenario directory. uvicorn's own
`--fd` would re-open the socket as a Unix socket, and asyncio then leaves Nagle's algorithm
on, which adds ~40 ms (a delayed ACK) to every local request; this opens it as what it is.
"""

from __future__ import annotations

import socket
import sys

import uvicorn


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    app = argv[1] if len(argv) > 1 else "app.main:app"
    graceful_s = int(argv[2]) if len(argv) > 2 else 5
    listener = socket.socket(fileno=fd)  # family and type are read from the descriptor
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=graceful_s
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
