"""A local stand-in for the team's log collector, for running the service on a laptop.

It accepts `POST /v1/records` (one JSON record), appends it to a JSON-lines file and then
acknowledges, after the round trip a collector in another region takes (~25 ms).
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ACK_LATENCY_S = float(os.environ.get("LOG_COLLECTOR_LATENCY_S", "0.025"))


def start_log_collector(directory: Path) -> str:
    """Serve the collector on a free 127.0.0.1 port in a daemon thread; returns its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"predictions-{os.getpid()}.jsonl"
    write_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with write_lock, path.open("ab") as sink:
                sink.write(body.rstrip(b"\n") + b"\n")
            time.sleep(ACK_LATENCY_S)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # the service logs its own requests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1/records"
