"""A stand-in web tile server on loopback, for the tile source's tests and benchmark.

Each tile is a flat PNG whose colour encodes its (z, x, y), so a test can tell which tile landed where in a
stitched picture. Paths choose a behaviour: ``/ok/{z}/{x}/{y}.png`` serves tiles, ``/status/{code}/…`` answers
that HTTP status, ``/garbage/…`` answers 200 with bytes that are no image, and ``/holes/…`` serves tiles but a
404 for each one whose x is odd, ``/slow/{seconds}/…`` serves tiles after that delay (a server that answers
slowly). It runs the standard library's threaded HTTP server in a thread, so it needs
nothing beyond Pillow and serves real sockets: the client under test goes through its whole network path.
"""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from PIL import Image


def tile_colour(z: int, x: int, y: int) -> tuple[int, int, int]:
    """A colour distinct for every tile of a window up to 16 tiles across (and per zoom level)."""
    return (17 + (x % 16) * 14, 17 + (y % 16) * 14, (z * 9) % 256)


def tile_png(z: int, x: int, y: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), tile_colour(z, x, y)).save(out, "PNG")
    return out.getvalue()


class TileServer:
    """``with TileServer() as server:`` … ``server.url`` ("http://127.0.0.1:PORT"), ``server.requests``."""

    def __init__(self) -> None:
        self.requests = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests += 1
                    owner.paths.append(self.path)
                status, body, kind = owner.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet: tests read counters, not logs
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="tile-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, path: str) -> tuple[int, bytes, str]:
        parts = path.split("?", 1)[0].strip("/").split("/")
        try:
            z, x, y = int(parts[-3]), int(parts[-2]), int(parts[-1].split(".")[0])
        except (IndexError, ValueError):
            return 400, b"bad tile path", "text/plain"
        mode = parts[0]
        if mode == "status":
            return int(parts[1]), b"no tile", "text/plain"
        if mode == "garbage":
            return 200, b"\x89PNG\r\n\x1a\n this is not a tile", "image/png"
        if mode == "slow":
            time.sleep(float(parts[1]))
        if mode == "holes" and x % 2:
            return 404, b"no tile", "text/plain"
        return 200, tile_png(z, x, y), "image/png"

    def __enter__(self) -> TileServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
