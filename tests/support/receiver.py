"""A real HTTP endpoint for callbacks (a Slack response_url, a webhook callback_url)."""

from __future__ import annotations

import http.server
import threading
from typing import Any

from tests.support.waiting import eventually


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what is posted to it."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                posts.append((dict(self.headers), self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every close.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        """The posts so far, once there are at least `count`."""
        return eventually(lambda: list(self.posts) if len(self.posts) >= count else None,
                          timeout, what=f"{count} posts to {self.url} (have {len(self.posts)})")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
