"""The simulated-data cache: several builds asking for the same data at once generate it once."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time
from pathlib import Path

from reportgen import config as config_mod
from reportgen.sources import simulate as simulate_mod
from reportgen.sources import simulated

CONFIG = """\
source:
  kind: simulate
  simulate: {seed: 7, influencers: 8, days: 40, end_date: 2025-07-07}
presets:
  a: {}
"""


def load(tmp_path: Path) -> config_mod.Config:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return config_mod.load(path)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_complete_and_tidy(folder: Path) -> None:
    names = set(digests(folder))
    assert {".complete", "influencers.parquet", "posts.parquet", "tracking_data.parquet"} <= names
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert not [p.name for p in folder.parent.iterdir() if p.name.endswith(".tmp")]


def counting_simulate(counter: list[int] | None = None, value=None):
    """Wrap the simulator: count generations and take long enough for the others to queue up."""
    real = simulate_mod.simulate

    def run(spec, out_dir):
        if counter is not None:
            counter.append(1)
        if value is not None:
            with value.get_lock():
                value.value += 1
        time.sleep(0.3)
        return real(spec, out_dir)

    return run


def test_two_threads_generate_once_and_share_the_folder(tmp_path, monkeypatch):
    cfg = load(tmp_path)
    calls: list[int] = []
    monkeypatch.setattr(simulate_mod, "simulate", counting_simulate(calls))
    barrier = threading.Barrier(2)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(simulated.ensure(cfg))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert calls == [1], "generated once; the other build waited and reused it"
    assert_complete_and_tidy(results[0])


def _ensure_in_child(config_path: str, barrier, results) -> None:
    cfg = config_mod.load(config_path)
    barrier.wait()
    try:
        results.put(("ok", str(simulated.ensure(cfg))))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def test_two_processes_generate_once_and_share_the_folder(tmp_path, monkeypatch):
    cfg = load(tmp_path)
    ctx = multiprocessing.get_context("fork")
    generations = ctx.Value("i", 0)
    monkeypatch.setattr(simulate_mod, "simulate", counting_simulate(value=generations))
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_ensure_in_child, args=(str(cfg.path), barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert [state for state, _ in outcomes] == ["ok", "ok"], outcomes
    assert outcomes[0][1] == outcomes[1][1]
    assert generations.value == 1
    folder = Path(outcomes[0][1])
    assert_complete_and_tidy(folder)
    # The same files a lone build makes (the simulator is deterministic).
    monkeypatch.undo()
    other = tmp_path / "alone"
    other.mkdir()
    assert digests(simulated.ensure(load(other))) == digests(folder)


def test_an_incomplete_folder_is_replaced(tmp_path):
    cfg = load(tmp_path)
    folder = simulated.folder_for(cfg, simulated.spec_for(cfg))
    folder.mkdir(parents=True)
    (folder / "posts.parquet").write_bytes(b"half a file from an interrupted run")
    assert simulated.ensure(cfg) == folder
    assert_complete_and_tidy(folder)
    assert (folder / "posts.parquet").read_bytes().startswith(b"PAR1")
