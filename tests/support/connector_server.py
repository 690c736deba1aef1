"""A local HTTP server on 127.0.0.1 serving made-up publisher answers to the connector tests; it stops by itself."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAXIMUM_DELAY_SECONDS = 2.0


@dataclass
class Route:
    """One answer: status, body bytes, content type, and an optional delay (bounded) before answering."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json;charset=UTF-8"
    delay_seconds: float = 0.0


@dataclass
class PublisherServer:
    """The running server: its base URL, the routes it answers and the requests it received."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)


def route_key(path: str, query: str) -> str:
    """Routes are keyed by path, plus `#<indicator code>` for NBS QueryData requests (one answer per code)."""
    parameters = urllib.parse.parse_qs(query)
    if "dfwds" in parameters:
        chosen = {item["wdcode"]: item["valuecode"] for item in json.loads(parameters["dfwds"][0])}
        return f"{path}#{chosen.get('zb', '')}"
    return path


def start_server() -> tuple[ThreadingHTTPServer, PublisherServer]:
    """Start a server on an ephemeral port of 127.0.0.1 in a daemon thread."""
    state = PublisherServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            split = urllib.parse.urlsplit(self.path)
            state.requests.append(
                {"path": split.path, "query": split.query, "user_agent": self.headers.get("User-Agent", "")}
            )
            route = state.routes.get(route_key(split.path, split.query))
            if route is None:
                self.send_error(404)
                return
            time.sleep(min(route.delay_seconds, MAXIMUM_DELAY_SECONDS))
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format, *args):  # noqa: A002 - signature of http.server
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, state
