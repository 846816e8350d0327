"""The command's process: how it loads WeasyPrint, and how it exits without tearing down.

Both save start-up and exit time of every ``reportgen`` command (see ``report/weasy.py`` and
``cli.exit_now``); these tests check that what they skip was only time.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the linker-cache path is Linux's")

#: Counts the gcc searches ``ctypes.util.find_library`` runs, then runs the given body.
_COUNT_GCC = """\
import ctypes.util, sys
calls = []
_gcc = ctypes.util._findLib_gcc
ctypes.util._findLib_gcc = lambda name: calls.append(name) or _gcc(name)
{body}
import weasyprint
assert weasyprint.HTML(string="<p>x</p>").write_pdf().startswith(b"%PDF")
print(len(calls))
"""


def _python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_weasyprint_loads_from_the_linker_cache_without_gcc() -> None:
    plain = _python(_COUNT_GCC.format(body=""))
    ours = _python(_COUNT_GCC.format(body="from reportgen.report import weasy; weasy.load()"))
    assert plain.returncode == 0, plain.stderr
    assert ours.returncode == 0, ours.stderr
    assert int(plain.stdout) > 0  # WeasyPrint on its own runs gcc for the names it misses
    assert ours.stdout.strip() == "0"  # no gcc run, and nothing printed of its own


def test_weasyprint_loads_when_only_the_full_search_finds_a_library() -> None:
    # GObject found only by the full search (gcc's own library paths): while the cache-only
    # lookup is in place, no name of it loads. The first import fails, the second succeeds.
    body = textwrap.dedent(
        """\
        import cffi.api
        def cache_only(name):
            return None
        ctypes.util._findSoname_ldconfig = cache_only
        _load = cffi.api._load_backend_lib
        def load_lib(backend, name, flags):
            if ctypes.util.find_library is cache_only and "gobject" in str(name):
                raise OSError(f"cannot load {name}")
            return _load(backend, name, flags)
        cffi.api._load_backend_lib = load_lib
        from reportgen.report import weasy
        weasy.load()
        """
    )
    out = _python(_COUNT_GCC.format(body=body))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0  # the full search ran
    # WeasyPrint's installation help, printed on the first failure, is not shown
    assert "could not import some external libraries" not in out.stdout + out.stderr


#: Runs the command line as ``python -m reportgen`` does, with an exit handler registered.
#: The handler's line is not flushed by itself: it arrives only if the exit flushes after it.
_RUN = """\
import atexit, sys, threading
atexit.register(lambda: print("exit handler ran"))
{body}
sys.argv = ["reportgen", *{argv!r}]
from reportgen.cli import run
run()
print("not reached")
"""


def test_exit_runs_the_exit_handlers_and_keeps_the_code_and_output(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("presets: {a: {window: nope}}\n")
    out = _python(_RUN.format(body="", argv=["validate", "--config", "config.yaml"]), tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("reportgen: error:") == 1
    assert "nope" in out.stderr
    assert out.stdout.splitlines()[-1] == "exit handler ran"
    assert "not reached" not in out.stdout


def test_exit_prints_all_of_a_long_output_to_a_pipe(tmp_path: Path) -> None:
    names = "".join(f"  p{i:04d}: {{window: last_7_days}}\n" for i in range(2000))
    (tmp_path / "config.yaml").write_text("presets:\n" + names)
    out = _python(_RUN.format(body="", argv=["validate", "--config", "config.yaml"]), tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) > 64 * 1024  # more than a pipe holds: written while being read
    assert all(f"p{i:04d}: last_7_days" in out.stdout for i in range(2000))


def test_exit_waits_for_a_thread_still_at_work(tmp_path: Path) -> None:
    # A thread that is not a daemon still has work to finish: the normal exit waits for it.
    body = textwrap.dedent(
        """\
        import time
        def late():
            time.sleep(0.5)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        """
    )
    (tmp_path / "config.yaml").write_text("presets: {a: {window: last_7_days}}\n")
    out = _python(_RUN.format(body=body, argv=["validate", "--config", "config.yaml"]), tmp_path)
    assert out.returncode == 0, out.stderr
    assert "thread finished" in out.stdout
    assert out.stdout.splitlines()[-1] == "exit handler ran"
