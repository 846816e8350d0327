"""Preview output/ on 127.0.0.1 (`reportgen serve`), rebuilding on change with ``--watch``.

Only loopback is bound, and nothing outside the output folder is served: a path or a link
that leads out of it is 404. A rebuild is `reportgen build` in a child process, one at a
time, started once the watched files have stopped changing for one poll (editors save in
several steps); while it runs, and when it fails, the previous output stays served.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reportgen import config as config_mod
from reportgen.config import Config
from reportgen.errors import OutputError, ReportgenError

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Files looked at per poll in the data folder; a larger folder is watched by its first ones.
MAX_WATCHED = 10_000


class _Handler(SimpleHTTPRequestHandler):
    """Static files from the output folder only, without the default request log."""

    root: Path

    def send_head(self) -> Any:
        target = Path(self.translate_path(self.path)).resolve()
        if not target.is_relative_to(self.root):
            self.send_error(404, "File not found")  # a link out of output/ is not followed
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("serve: " + format, *args)


def make_server(folder: Path, port: int) -> ThreadingHTTPServer:
    """Return an HTTP server for ``folder`` bound to 127.0.0.1:``port`` (0: any free port)."""
    root = folder.resolve()
    handler = type("Handler", (_Handler,), {"root": root})
    try:
        return ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(root)))
    except OSError as exc:
        raise ReportgenError(
            f"{HOST}:{port}: cannot listen ({exc.strerror}); pick another port with --port N "
            "(0: any free port)"
        ) from None


def run(cfg: Config, config_path: Path, *, port: int, watch: bool, poll: float = 1.0) -> None:
    """Serve until Ctrl-C or SIGTERM; with ``watch``, rebuild when config or data change."""
    folder = cfg.output_dir
    if not folder.is_dir():
        if not watch:
            raise OutputError(f"{folder}: no output yet; run `reportgen build` first (or --watch)")
        folder.mkdir(parents=True)
    server = make_server(folder, port)
    stop = threading.Event()
    watcher = Watcher(cfg, config_path, poll) if watch else None
    if watcher is not None:
        threading.Thread(target=watcher.loop, args=(stop,), daemon=True).start()
    url = f"http://{HOST}:{server.server_address[1]}/"
    print(f"serving {folder} at {url} (Ctrl-C to stop)", flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        logger.info("stopped serving %s", folder)
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        if watcher is not None:
            watcher.cancel()
        server.server_close()


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


class Watcher:
    """Rebuild when config.yaml or the data folder changes, one build at a time."""

    def __init__(self, cfg: Config, config_path: Path, poll: float) -> None:
        self.config_path = config_path
        self.data = cfg.source.path if cfg.source.kind == "files" else None
        self.poll = poll
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        self.last = self.stamp()  # now, before the URL is printed: later saves are changes

    def stamp(self) -> tuple[Any, ...]:
        """Return what changes when the config or any data file is saved."""
        parts: list[Any] = [_file_stamp(self.config_path)]
        if self.data is not None and self.data.is_dir():
            with os.scandir(self.data) as it:
                for n, entry in enumerate(sorted(it, key=lambda e: e.name)):
                    if n >= MAX_WATCHED:
                        break
                    parts.append((entry.name, _file_stamp(Path(entry.path))))
        return tuple(parts)

    def loop(self, stop: threading.Event) -> None:
        """Poll until ``stop``; after a change has settled, rebuild."""
        while not stop.wait(self.poll):
            now = self.stamp()
            if now == self.last:
                continue
            while not stop.wait(self.poll):  # settle: unchanged for one whole poll
                again = self.stamp()
                if again == now:
                    break
                now = again
            self.last = now
            if not stop.is_set():
                self.rebuild()  # a save during the build is seen on the next poll

    def rebuild(self) -> int:
        """Run `reportgen build` for the config; return its exit code."""
        self._follow_config()
        logger.info("change seen: rebuilding")
        cmd = [sys.executable, "-m", "reportgen", "--config", str(self.config_path), "build"]
        with self._lock:
            if self._cancelled:
                return 130
            # The build's own lines (its error, if any) go to our stderr; stdout stays the URL's.
            self._child = subprocess.Popen(cmd, stdout=sys.stderr.fileno())
        code = self._child.wait()
        if code == 0:
            logger.info("rebuilt; reload the page")
        else:
            logger.warning("rebuild failed (exit %d); still serving the previous output", code)
        return code

    def cancel(self) -> None:
        """Stop a rebuild in progress (the build publishes atomically, so this is safe)."""
        with self._lock:
            self._cancelled = True
            if self._child is not None and self._child.poll() is None:
                self._child.terminate()

    def _follow_config(self) -> None:
        # A new source.path in the config is watched from now on; an invalid config keeps the
        # old one (the build says what is wrong).
        try:
            cfg = config_mod.load(self.config_path)
        except ReportgenError:
            return
        self.data = cfg.source.path if cfg.source.kind == "files" else None


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
