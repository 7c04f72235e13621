"""Serve the built book (``_build/html``) over HTTP on localhost, as a reader's browser would see it.

    python tools/serve_book.py                 # http://127.0.0.1:8000/ ; Ctrl-C stops it
    python tools/serve_book.py --port 0 DIR    # any free port, another site folder

Opening ``_build/html/index.html`` as a file works too, but some things only behave as on a web host when
the pages come over HTTP (the search page, fetches of the search index, absolute-path links). The browser
test (tests/test_browser.py) uses :func:`serve` in a background thread.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files, no per-request log lines; no caching, so a rebuilt page is never served stale."""

    def log_message(self, format, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A browser that navigates away mid-download resets the connection; that is not a site error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(directory: Path | str, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``directory`` in a background thread; yields the base URL (ending in ``/``); stops on exit."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise FileNotFoundError(f"{directory} has no index.html: build the book first (make book)")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _Server((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="serve_book", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(ROOT / "_build" / "html"), help="site folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: localhost only)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    args = parser.parse_args(argv)
    try:
        with serve(args.directory, args.host, args.port) as url:
            print(f"serving {args.directory} at {url}  (Ctrl-C stops)", flush=True)
            threading.Event().wait()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
