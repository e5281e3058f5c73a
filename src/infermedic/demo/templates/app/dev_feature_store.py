"""A local stand-in for the team's feature store, for running the service on a laptop.

`GET /v1/customers/{id}/features?support_calls=N` answers with the customer's latest
support-call count. Like the real one, it is usually quick and occasionally very slow: a
few percent of lookups wait on a cold partition (`FEATURE_STORE_SLOW_FRACTION`,
`FEATURE_STORE_SLOW_S`).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SLOW_FRACTION = float(os.environ.get("FEATURE_STORE_SLOW_FRACTION", "0.04"))
SLOW_S = float(os.environ.get("FEATURE_STORE_SLOW_S", "0.6"))


def start_feature_store(seed: int = 7) -> str:
    """Serve the stand-in on a free 127.0.0.1 port in a daemon thread; returns its base URL."""
    draws = random.Random(seed)
    draw_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with draw_lock:
                slow = draws.random() < SLOW_FRACTION
            time.sleep(SLOW_S if slow else 0.001)
            query = parse_qs(urlsplit(self.path).query)
            body = json.dumps({"support_calls": int(query.get("support_calls", ["0"])[0])})
            encoded = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"
