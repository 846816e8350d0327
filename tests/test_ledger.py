"""The run ledger: atomic claims, crash detection, per-recipient delivery records, cursors."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.delivery.ledger import Ledger
from reportgen.errors import DataError, LedgerDamaged, LockHeld, OutputError, RunBusy
from reportgen.model import Window
from reportgen.scheduling.lock import FileLock, run_lock
from tests.conftest import ROOT

W = Window(date(2025, 7, 1), date(2025, 7, 7))
AS_OF = date(2025, 7, 7)


def test_claim_records_a_running_row_then_its_result(tmp_path):
    ledger = Ledger(tmp_path)
    claim = ledger.claim(
        "weekly", W, AS_OF, "scheduled", fired=datetime(2025, 7, 8, 2, 30, tzinfo=UTC)
    )
    run = ledger.get_run("weekly", W)
    assert (run.state, run.pid, run.trigger, run.attempts) == (
        "running",
        os.getpid(),
        "scheduled",
        1,
    )
    assert run.fired == "2025-07-08T02:30:00+00:00"
    claim.record_files({"outputs": [{"name": "weekly"}]})
    claim.finish("succeeded")
    run = ledger.get_run("weekly", W)
    assert run.state == "succeeded" and run.ended and run.files == {"outputs": [{"name": "weekly"}]}


def test_finish_records_the_files_with_the_state(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.claim("weekly", W, AS_OF, "manual").finish("succeeded", files={"outputs": [{"n": 1}]})
    run = ledger.get_run("weekly", W)
    assert (run.state, run.files) == ("succeeded", {"outputs": [{"n": 1}]})
    assert run.ended and run.error is None


def test_a_held_window_is_busy_for_everyone_else(tmp_path):
    first = Ledger(tmp_path).claim("weekly", W, AS_OF, "scheduled")
    with pytest.raises(
        RunBusy, match=rf"another run \(scheduled\) is in progress \(pid {os.getpid()}"
    ):
        Ledger(tmp_path).claim("weekly", W, AS_OF, "manual")
    # Other windows and presets are independent.
    Ledger(tmp_path).claim("weekly", W.previous(), AS_OF, "manual").finish("succeeded")
    Ledger(tmp_path).claim("monthly", W, AS_OF, "manual").finish("succeeded")
    first.finish("succeeded")
    again = Ledger(tmp_path).claim("weekly", W, AS_OF, "manual")
    assert again.previous.state == "succeeded" and again.previous.attempts == 1
    again.finish("succeeded")
    assert Ledger(tmp_path).get_run("weekly", W).attempts == 2


def test_an_exception_inside_the_claim_marks_the_run_failed_and_frees_it(tmp_path):
    ledger = Ledger(tmp_path)
    with pytest.raises(DataError), ledger.claim("weekly", W, AS_OF, "manual"):
        raise DataError("posts.csv:3: date: not a date")
    run = ledger.get_run("weekly", W)
    assert run.state == "failed" and run.error == "posts.csv:3: date: not a date"
    ledger.claim("weekly", W, AS_OF, "manual").finish("succeeded")


def test_built_files_are_offered_to_the_next_claim(tmp_path):
    ledger = Ledger(tmp_path)
    claim = ledger.claim("weekly", W, AS_OF, "scheduled")
    claim.record_files({"outputs": []})
    claim.finish("failed", "delivery: 421")
    assert ledger.claim("weekly", W, AS_OF, "manual").built_files == {"outputs": []}


def _contend(state_dir: str, barrier, results) -> None:
    barrier.wait()
    try:
        claim = Ledger(Path(state_dir)).claim("weekly", W, AS_OF, "manual")
    except RunBusy:
        results.put("busy")
        return
    time.sleep(0.5)  # hold it while the others try
    claim.finish("succeeded")
    results.put("won")


def test_only_one_of_many_processes_wins_a_claim(tmp_path):
    Ledger(tmp_path)  # create the schema once
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), barrier, results)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["busy"] * 5 + ["won"]
    assert Ledger(tmp_path).get_run("weekly", W).attempts == 1


HOLDER = """
import sys, time
from datetime import date
sys.path.insert(0, {root!r})
from reportgen.delivery.ledger import Ledger
from reportgen.model import Window
claim = Ledger({state!r}).claim("weekly", Window(date(2025, 7, 1), date(2025, 7, 7)),
                               date(2025, 7, 7), "scheduled")
print("claimed", flush=True)
time.sleep({hold})
claim.finish("succeeded")
"""


def spawn(script: str, ready: str, **fields: Any) -> subprocess.Popen:
    """Run ``script`` (formatted with ``root`` and ``fields``) in a new Python process.

    Return once it has printed ``ready``; the caller kills it.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", script.format(root=str(ROOT), **fields)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if line != ready:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the subprocess said {line!r}, not {ready!r}")
    return proc


def hold_window(state: Path, hold: float = 60) -> subprocess.Popen:
    """Claim weekly 2025-07-01..07 as a scheduled run in another process, for ``hold`` s."""
    return spawn(HOLDER, "claimed", state=str(state), hold=hold)


def test_running_row_of_a_killed_process_is_marked_crashed(tmp_path):
    proc = hold_window(tmp_path)
    try:
        ledger = Ledger(tmp_path)
        assert ledger.mark_crashed() == [], "a live owner is left alone"
        with pytest.raises(RunBusy, match=f"pid {proc.pid}"):
            ledger.claim("weekly", W, AS_OF, "manual")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    crashed = Ledger(tmp_path).mark_crashed()
    assert [r.pid for r in crashed] == [proc.pid]
    run = Ledger(tmp_path).get_run("weekly", W)
    assert run.state == "crashed" and f"process {proc.pid} stopped" in run.error
    assert Ledger(tmp_path).mark_crashed() == []


def test_a_claim_takes_over_a_dead_owners_running_row(tmp_path, caplog):
    proc = hold_window(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    claim = Ledger(tmp_path).claim("weekly", W, AS_OF, "manual")
    assert claim.previous.state == "crashed"
    assert "died before finishing" in caplog.text
    claim.finish("succeeded")


def test_skipped_never_overwrites_and_can_be_claimed_later(tmp_path):
    ledger = Ledger(tmp_path)
    assert ledger.record_skipped("weekly", W, AS_OF, "catch-up", "missed; missed: skip")
    assert not ledger.record_skipped("weekly", W, AS_OF, "catch-up", "again")
    assert ledger.get_run("weekly", W).error == "missed; missed: skip"
    ledger.claim("weekly", W, AS_OF, "manual").finish("succeeded")
    assert not ledger.record_skipped("weekly", W, AS_OF, "scheduled", "coalesced")
    assert ledger.get_run("weekly", W).state == "succeeded"


def test_deliveries_are_per_recipient_and_sent_is_final(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record_delivery("weekly", W, "Ana@Example.com", "sent", message_id="<1@x>")
    ledger.record_delivery("weekly", W, "bob@example.com", "failed", error="421 busy")
    ledger.record_delivery("weekly", W, "cara@example.com", "refused", error="550 no such user")
    ledger.record_delivery("weekly", W, "ana@example.com", "failed", error="late failure")
    rows = ledger.deliveries("weekly", W)
    assert rows["ana@example.com"].state == "sent" and rows["ana@example.com"].message_id == "<1@x>"
    pending = ledger.pending_recipients(
        "weekly",
        W,
        [
            "ANA@example.com",
            "bob@example.com",
            "cara@example.com",
            "dan@example.com",
            "Dan@example.com",
        ],
    )
    assert pending == ["bob@example.com", "dan@example.com"]
    ledger.record_delivery("weekly", W, "bob@example.com", "sent")
    assert ledger.deliveries("weekly", W)["bob@example.com"].attempts == 2
    assert ledger.pending_recipients("weekly", W, ["bob@example.com"]) == []
    # Another group or window is a different delivery.
    assert ledger.pending_recipients("weekly.mb", W, ["ana@example.com"]) == ["ana@example.com"]
    assert ledger.delivery_counts("weekly", W) == {"sent": 2, "refused": 1}


emails = st.from_regex(r"[a-c]{1,2}@(ex|EX)\.com", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(recipients=st.lists(emails, max_size=8), sent=st.lists(emails, max_size=8))
def test_pending_never_includes_a_sent_mailbox(tmp_path_factory, recipients, sent):
    ledger = Ledger(tmp_path_factory.mktemp("ledger"))
    for addr in sent:
        ledger.record_delivery("p", W, addr, "sent")
    pending = ledger.pending_recipients("p", W, recipients)
    done = {a.lower() for a in sent}
    assert not {a.lower() for a in pending} & done
    assert {a.lower() for a in pending} | done >= {a.lower() for a in recipients}
    assert len({a.lower() for a in pending}) == len(pending)


def test_cursor_only_moves_forward(tmp_path):
    ledger = Ledger(tmp_path)
    assert ledger.cursor("weekly") is None
    t = datetime(2025, 7, 7, 2, 30, tzinfo=UTC)
    ledger.advance_cursor("weekly", t)
    ledger.advance_cursor("weekly", t - timedelta(days=1))
    assert ledger.cursor("weekly") == t
    ledger.advance_cursor("weekly", t + timedelta(days=1))
    assert ledger.cursor("weekly") == t + timedelta(days=1)


def test_recent_runs_newest_first(tmp_path):
    clock = iter(datetime(2025, 7, d, tzinfo=UTC) for d in range(1, 30))
    ledger = Ledger(tmp_path, clock=lambda: next(clock))
    for days in range(3):
        w = type(W)(W.start + timedelta(days=days), W.end + timedelta(days=days))
        ledger.claim("daily", w, w.end, "scheduled").finish("succeeded")
    runs = ledger.recent_runs(limit=2)
    assert [r.window.end for r in runs] == [date(2025, 7, 9), date(2025, 7, 8)]
    assert ledger.recent_runs("nope") == []


def test_file_lock_is_exclusive_between_open_files_and_released_on_close(tmp_path):
    a = run_lock(tmp_path, "weekly", "2025-07-01", "2025-07-07")
    b = run_lock(tmp_path, "weekly", "2025-07-01", "2025-07-07")
    assert a.try_acquire() and not b.try_acquire()
    assert b.holder_pid() == os.getpid()
    a.release()
    assert b.try_acquire()
    b.release()
    assert run_lock(tmp_path, "a.b", "x", "y").path != run_lock(tmp_path, "a_b", "x", "y").path
    with FileLock(tmp_path / "x.lock") as lock:
        assert lock.try_acquire() and lock.held
    assert not lock.held


def test_a_dry_run_or_skip_does_not_hide_a_real_send(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record_send("weekly", W, "dry-run", "/tmp/x.eml")
    ledger.record_send("weekly", W, "sent", "")
    ledger.record_send("weekly", W, "dry-run", "/tmp/y.eml")
    ledger.record_send("weekly", W, "skipped", "no data")
    assert ledger.sends("weekly", W) == {"weekly": ("sent", "")}
    ledger.record_send("weekly", W, "failed", "421")
    assert ledger.sends("weekly", W)["weekly"][0] == "failed"


def test_claim_all_takes_every_window_or_none(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.claim("monthly", W, AS_OF, "scheduled").finish("succeeded")
    held = ledger.claim("weekly", W, AS_OF, "scheduled")
    items = [("monthly", W, AS_OF), ("daily", W, AS_OF), ("weekly", W, AS_OF)]
    with pytest.raises(RunBusy, match=r"preset weekly .* another run \(scheduled\)"):
        ledger.claim_all(items, "manual")
    # Nothing was touched, and the windows that were free are free again.
    assert ledger.get_run("daily", W) is None
    monthly = ledger.get_run("monthly", W)
    assert (monthly.state, monthly.trigger, monthly.attempts) == ("succeeded", "scheduled", 1)
    held.finish("succeeded")
    claims = ledger.claim_all(items, "manual")
    assert [c.preset for c in claims] == ["monthly", "daily", "weekly"]
    assert {ledger.get_run(c.preset, W).state for c in claims} == {"running"}
    for claim in claims:
        claim.finish("succeeded")
    with pytest.raises(ValueError, match="claimed once"):
        ledger.claim_all([("daily", W, AS_OF), ("daily", W, AS_OF)], "manual")


def test_a_claim_can_wait_for_another_process_to_finish(tmp_path):
    proc = hold_window(tmp_path, hold=1.5)
    try:
        ledger = Ledger(tmp_path)
        with pytest.raises(RunBusy):
            ledger.claim("weekly", W, AS_OF, "manual", wait=0.3)
        with pytest.raises(RunBusy):
            ledger.claim("weekly", W, AS_OF, "manual", wait=30, cancelled=lambda: True)
        t0 = time.monotonic()
        claim = ledger.claim("weekly", W, AS_OF, "manual", wait=30)
        assert time.monotonic() - t0 < 20
    finally:
        proc.kill()
        proc.wait()
    assert claim.previous.state == "succeeded" and claim.previous.pid == proc.pid
    claim.finish("succeeded")


def test_an_unusable_state_folder_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match=r"make schedule.state_dir .* a writable folder") as err:
        Ledger(tmp_path / "file" / "state")
    assert err.value.exit_code == 9


def test_a_lock_that_cannot_be_created_is_an_output_error(tmp_path):
    ledger = Ledger(tmp_path)
    (tmp_path / "locks").write_text("a file where the lock folder goes")
    with pytest.raises(OutputError, match=r"cannot write the lock file") as err:
        ledger.claim("weekly", W, AS_OF, "manual")
    assert err.value.exit_code == 9 and ledger.get_run("weekly", W) is None


def test_outputs_are_matched_by_name_not_by_prefix(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record_send("a_b", W, "sent")
    ledger.record_send("a_b.mb", W, "skipped", "no data")
    ledger.record_send("a_b.other", W, "sent")  # a preset of its own, not a group of a_b
    ledger.record_send("axb.mb", W, "sent")
    ledger.record_delivery("axb.mb", W, "ana@example.com", "sent")
    assert set(ledger.sends(["a_b", "a_b.mb"], W)) == {"a_b", "a_b.mb"}
    assert set(ledger.sends("a_b", W)) == {"a_b"}
    assert ledger.delivery_counts(["a_b", "a_b.mb"], W) == {}
    assert ledger.delivery_counts(["axb.mb"], W) == {"sent": 1}


def _history(ledger: Ledger) -> None:
    claim = ledger.claim("weekly", W, AS_OF, "manual")
    claim.record_files({"outputs": []})
    claim.finish("succeeded")
    ledger.record_delivery("weekly", W, "ana@example.com", "sent")


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database " * 100)


def _half(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _scribbled(path: Path) -> None:
    # Whole length, sound header: only reading every page (quick_check) finds this.
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\xff" * 8192)


@pytest.mark.parametrize(
    "damage",
    [_garbage, _half, _empty, _scribbled],
    ids=["garbage", "half", "empty", "scribbled"],
)
def test_a_damaged_ledger_is_set_aside_and_never_taken_as_fresh(tmp_path, damage):
    ledger = Ledger(tmp_path)
    # Enough rows that half the file cuts through tables, not just free pages.
    for i in range(200):
        ledger.record_delivery(f"p{i}", W, f"r{i}@example.com", "sent", error="x" * 200)
    _history(ledger)
    path = tmp_path / "ledger.sqlite3"
    damage(path)
    damaged = path.read_bytes()
    with pytest.raises(
        LedgerDamaged, match=r"damaged .*moved aside to ledger\.sqlite3\.damaged-"
    ) as err:
        Ledger(tmp_path)
    assert err.value.exit_code == 10 and "reportgen runs --new-ledger" in str(err.value)
    assert "\n" not in str(err.value)  # one line, however many problems the check found
    aside = list(tmp_path.glob("ledger.sqlite3.damaged-*Z"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept whole for recovery
    # Every later command stops too, rather than start an empty history and mail again.
    with pytest.raises(LedgerDamaged, match=r"missing \(the damaged one was moved aside to"):
        Ledger(tmp_path)
    assert not path.exists()


def test_a_deleted_ledger_stops_until_a_new_one_is_started_knowingly(tmp_path):
    _history(Ledger(tmp_path))
    (tmp_path / "ledger.sqlite3").rename(tmp_path / "backup.sqlite3")
    with pytest.raises(LedgerDamaged, match=r"the run ledger is missing, but this state folder"):
        Ledger(tmp_path)
    (tmp_path / "backup.sqlite3").rename(tmp_path / "ledger.sqlite3")  # restoring it works
    ledger = Ledger(tmp_path)
    assert ledger.pending_recipients("weekly", W, ["ana@example.com"]) == []
    fresh, aside = Ledger.start_new(tmp_path)
    assert aside is not None and aside.name.startswith("ledger.sqlite3.replaced-")
    assert fresh.get_run("weekly", W) is None
    assert Ledger(tmp_path).pending_recipients("weekly", W, ["ana@example.com"]) != []


def test_a_new_state_folder_gets_a_ledger_and_its_marker(tmp_path):
    Ledger(tmp_path / "state")
    assert (tmp_path / "state" / "ledger.sqlite3").stat().st_size > 0
    assert (tmp_path / "state" / "ledger.created").exists()


FULL_DISK = """
import resource, sys
from datetime import date
from pathlib import Path
from reportgen.errors import OutputError
from reportgen.delivery.ledger import Ledger
from reportgen.scheduling.lock import FileLock
from reportgen.model import Window

state = Path(sys.argv[1])
ledger = Ledger(state)
# From here on no file may grow by a byte, as on a full disk (Python ignores SIGXFSZ).
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
for what, act in (
    ("lock", lambda: FileLock(state / "locks" / "x.lock").try_acquire()),
    ("ledger", lambda: ledger.record_send("weekly", Window(date(2025, 7, 1), date(2025, 7, 7)), "sent", "x" * 100000)),
):
    try:
        act()
        print(what, "no error")
    except OutputError as exc:
        print(what, exc.exit_code, exc)
"""


def test_a_full_state_disk_is_an_output_error_not_a_traceback(tmp_path):
    Ledger(tmp_path)  # made while the disk had room
    r = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lock, ledger = r.stdout.splitlines()
    assert lock.startswith(f"lock 9 {tmp_path}/locks/x.lock: cannot write the lock file: "), lock
    assert ledger.startswith(f"ledger 9 {tmp_path}/ledger.sqlite3: cannot write the run ledger"), (
        ledger
    )
    assert Ledger(tmp_path).sends("weekly", W) == {}  # nothing half recorded


def test_a_ledger_damaged_while_in_use_is_one_clear_error(tmp_path):
    ledger = Ledger(tmp_path)
    _history(ledger)
    (tmp_path / "ledger.sqlite3").write_bytes(b"garbage" * 1000)
    (tmp_path / "ledger.sqlite3-wal").unlink(missing_ok=True)
    with pytest.raises(
        LedgerDamaged, match=r"the run ledger is damaged \(file is not a database\)"
    ):
        ledger.get_run("weekly", W)
    with pytest.raises(LedgerDamaged):
        ledger.record_send("weekly", W, "sent")


def test_a_large_ledger_cut_short_is_found_from_its_header_alone(tmp_path, monkeypatch):
    from reportgen.delivery import ledger_file

    ledger = Ledger(tmp_path)
    for i in range(50):
        ledger.record_delivery(f"p{i}", W, f"r{i}@example.com", "sent", error="x" * 2000)
    monkeypatch.setattr(ledger_file, "FULL_CHECK_BYTES", 0)  # as if it were over the size
    Ledger(tmp_path)  # a whole one passes
    _half(tmp_path / "ledger.sqlite3")
    with pytest.raises(LedgerDamaged, match=r"damaged \(cut short: \d+ of its \d+ bytes\)"):
        Ledger(tmp_path)


# -- only corruption is damage: busy, read-only and constraint errors keep the ledger -------------

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect({path!r}, isolation_level=None)
# Exclusive locking mode keeps the write lock after the write: no other process may even read.
db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("CREATE TABLE held (x)")
db.execute("COMMIT")
print("locked", flush=True)
time.sleep(60)
"""


def _aside(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("ledger.sqlite3.*-*"))


def test_a_locked_ledger_is_busy_not_damaged(tmp_path, monkeypatch):
    from reportgen.delivery import ledger_file

    ledger = Ledger(tmp_path)
    _history(ledger)
    monkeypatch.setattr(ledger_file, "BUSY_SECONDS", 0.2)  # not 30 s per attempt in a test
    proc = spawn(LOCKER, "locked", path=str(tmp_path / "ledger.sqlite3"))
    try:
        # One clear line (exit 7), not a raw sqlite3 error, on opening and mid-operation alike.
        says = r"ledger.sqlite3: the run ledger stayed locked by another process for 0.2 s, so"
        with pytest.raises(LockHeld, match=says):
            Ledger(tmp_path)
        with pytest.raises(LockHeld, match=says):
            ledger.get_run("weekly", W)
        with pytest.raises(LockHeld, match=says):
            ledger.record_delivery("weekly", W, "bob@example.com", "failed", error="x")
    finally:
        proc.kill()
        proc.wait()
    assert _aside(tmp_path) == []  # nothing set aside, and the history is all there
    assert Ledger(tmp_path).get_run("weekly", W).state == "succeeded"
    assert Ledger(tmp_path).pending_recipients("weekly", W, ["ana@example.com"]) == []


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its files read-only; root ignores modes, so it gets chattr +i."""
    paths = [folder, *folder.iterdir()]
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True).returncode:
            pytest.skip("running as root and chattr +i is not allowed here")
        undo = ["chattr", "-i", *map(str, paths)]
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(undo, check=True)
        else:
            for p, mode in modes.items():
                p.chmod(mode)


def test_a_ledger_on_a_read_only_path_is_unwritable_not_damaged(tmp_path):
    _history(Ledger(tmp_path))
    before = (tmp_path / "ledger.sqlite3").read_bytes()
    with _read_only(tmp_path):
        with pytest.raises(OutputError, match=r"cannot use the run ledger: .*writable") as err:
            Ledger(tmp_path)
    assert err.value.exit_code == 9 and "damaged" not in str(err.value)
    assert _aside(tmp_path) == []
    assert (tmp_path / "ledger.sqlite3").read_bytes() == before
    assert Ledger(tmp_path).get_run("weekly", W).state == "succeeded"


def test_a_constraint_failure_is_not_taken_for_damage(tmp_path):
    ledger = Ledger(tmp_path)
    _history(ledger)
    # A rule the file enforces (as a newer version's ledger might): breaking it is no damage,
    # and telling the operator to start a new history would mail every recipient again.
    con = sqlite3.connect(tmp_path / "ledger.sqlite3")
    con.execute(
        "CREATE TRIGGER no_sends BEFORE INSERT ON sends BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    con.commit()
    con.close()
    with pytest.raises(sqlite3.IntegrityError) as err:
        ledger.record_send("weekly", W, "sent")
    assert not isinstance(err.value, LedgerDamaged)
    assert _aside(tmp_path) == []
    assert Ledger(tmp_path).pending_recipients("weekly", W, ["ana@example.com"]) == []
