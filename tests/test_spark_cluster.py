"""The Spark engine on a real standalone cluster: a Master and one Worker on loopback.

Both JVMs are started with pyspark's own ``bin/spark-class`` (1 core, 1g), the build runs in
process with ``reportgen.cli.main`` and ``engine.master: spark://127.0.0.1:PORT``, and the
figures must equal a DuckDB build's. The master's JSON and the worker's work folder prove
the queries ran on the cluster's executor, not in local mode.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reportgen import config as config_mod
from reportgen.cli import main
from tests.test_spark_engine import AS_OF
from tests.test_spark_engine import PRESETS as ENGINE_PRESETS

pytestmark = pytest.mark.slow

# test_spark_engine's two presets, without the study sections: this folder has no study.
PRESETS = ENGINE_PRESETS.replace("    sections: [overview, attribution, incrementality]\n", "")
assert PRESETS != ENGINE_PRESETS

#: How long the Master and Worker may take to start and register (a cold JVM each, and this
#: 2-core machine may be busy).
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its master URL, web UI port and worker work folder."""

    url: str
    webui: int
    work_dir: Path
    logs: Path

    def state(self) -> dict[str, Any]:
        """Return the master's JSON state (workers, active and completed applications)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui}/json", timeout=5) as r:
            return json.loads(r.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return f"--- {path.name}:\n" + "\n".join(text[-lines:])


def _wait(what: str, done: Callable[[], bool], timeout: float, logs: list[Path]) -> None:
    """Poll ``done`` until it holds; fail naming ``what`` with the JVMs' log tails if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s\n" + "\n".join(_tail(p) for p in logs))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Cluster:
    """Start a standalone Master and one Worker (1 core, 1g) on 127.0.0.1; kill both after."""
    pyspark = pytest.importorskip(
        "pyspark", reason="pyspark not installed (pip install 'reportgen[spark]')"
    )
    if shutil.which("java") is None:
        pytest.skip("no Java on PATH (Spark needs Java 17)")
    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("cluster")
    logs, work, conf = root / "logs", root / "work", root / "conf"
    for d in (logs, work, conf):
        d.mkdir()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(conf),  # empty: no spark-defaults or spark-env of the machine
        "SPARK_LOG_DIR": str(logs),
        "SPARK_WORKER_DIR": str(work),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    port, webui = _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    commands = {
        "master": [
            *(spark_class, "org.apache.spark.deploy.master.Master"),
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui)),
        ],
        "worker": [
            *(spark_class, "org.apache.spark.deploy.worker.Worker"),
            *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
            *("--work-dir", str(work), "--webui-port", str(_free_port()), url),
        ],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands.items():
        with open(logs / f"{name}.log", "wb") as log:
            # Its own process group: the finalizer kills the JVM and the executors it forks.
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        procs[name] = proc
        request.addfinalizer(lambda p=proc: _kill_group(p))
    cluster = Cluster(url=url, webui=webui, work_dir=work, logs=logs)

    def registered() -> bool:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(
                    f"the {name} exited ({proc.returncode})\n" + _tail(logs / f"{name}.log")
                )
        try:
            workers = cluster.state()["workers"]
        except OSError:  # the master's web UI is not up yet
            return False
        return any(w["state"] == "ALIVE" for w in workers)

    logs_ = [logs / "master.log", logs / "worker.log"]
    _wait("the worker did not register with the master", registered, START_TIMEOUT, logs_)
    return cluster


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group ``proc`` leads: TERM, then KILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulate 20 influencers over 60 days to 2026-11-30 as Parquet."""
    out = tmp_path_factory.mktemp("cluster-data") / "sim"
    args = ["simulate", "--influencers", "20", "--days", "60", "--end-date", AS_OF]
    assert main([*args, "--out", str(out)]) == 0
    return out


def _config(path: Path, data: Path, engine: str = "") -> Path:
    """Write a config over ``data`` with the two presets (and ``engine``); return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = f"source: {{kind: files, path: {data}}}\nschedule: {{state_dir: {path.parent}}}\n"
    path.write_text(source + engine + PRESETS)
    return path


def _summary(out: Path, preset: str) -> dict[str, Any]:
    return json.loads((out / preset / AS_OF / "summary.json").read_text())


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Return everything but where the data came from (config file, source provenance)."""
    return {k: v for k, v in summary.items() if k not in ("source", "config")}


def test_presets_on_a_standalone_cluster_match_duckdb(cluster, sim, tmp_path, capsys):
    from pyspark import SparkContext

    from reportgen.sources.spark import session

    assert cluster.state()["completedapps"] == []  # nothing ran on it before this build
    duck, spk = tmp_path / "duckdb", tmp_path / "spark"
    cfg = _config(tmp_path / "duckdb-ws" / "config.yaml", sim)
    assert main(["-q", "-c", str(cfg), "build", "--as-of", AS_OF, "--out", str(duck)]) == 0
    # The driver advertises 127.0.0.1 to the executor: by default Spark picks this machine's
    # first non-loopback address, and the test keeps the whole cluster on loopback.
    engine = (
        f"engine: {{kind: spark, master: '{cluster.url}', "
        "conf: {spark.driver.host: 127.0.0.1}}\n"
    )
    cfg = _config(tmp_path / "spark-ws" / "config.yaml", sim, engine)
    # A local session left active (by a notebook, or another test module) must not take the
    # build, nor be stopped by it: the build stops with a line saying what to do (exit 4).
    with session(config_mod.loads("presets: {x: {}}\nengine: {kind: spark}\n")) as local:
        assert local.sparkContext.master.startswith("local")
        argv = ["-c", str(cfg), "build", "--as-of", AS_OF, "--out", str(spk)]
        assert main(argv) == 4
        err = capsys.readouterr().err
        assert "a Spark session on local" in err and "is already running" in err, err
        assert local.range(3).count() == 3  # still running, untouched
        assert not spk.exists()  # nothing written
    assert main(["-q", *argv]) == 0  # the local session is gone: the build runs on the cluster
    assert SparkContext._active_spark_context is None  # the build stopped its own session

    for preset in ("november", "muscleblaze-30d"):
        d, s = _summary(duck, preset), _summary(spk, preset)
        assert s["kpis"] == d["kpis"], preset
        assert _figures(s) == _figures(d), preset
        assert s["source"]["engine"] == {"kind": "spark", "master": cluster.url}
        assert "engine" not in d["source"]
        assert s["source"]["files"] == d["source"]["files"]  # the same file hashes
    assert _summary(spk, "november")["kpis"]["orders"] > 0

    # It ran on the cluster: the master lists the build's application, finished, and the
    # worker's work folder holds its executor's log, with tasks run. (The master moves an
    # application to the completed ones shortly after the driver stops it.)
    _wait(
        "the build's application is still active",
        lambda: not cluster.state()["activeapps"],
        30.0,
        [],
    )
    completed = cluster.state()["completedapps"]
    assert [(a["name"], a["state"]) for a in completed] == [("reportgen", "FINISHED")], (
        "the build did not run on the cluster"
    )
    apps = [a["id"] for a in completed]
    stderr = cluster.work_dir / apps[0] / "0" / "stderr"
    assert [p.name for p in cluster.work_dir.iterdir()] == apps
    assert "Finished task" in stderr.read_text(errors="replace"), _tail(stderr)
