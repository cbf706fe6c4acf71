"""Three `gankit tune` workers on one study in a real PostgreSQL server, one of them killed and started again.

The server is Debian's PostgreSQL (scripts/test-setup.sh installs it), started
here with initdb and pg_ctl in a temporary directory as an unprivileged user
(``postgres`` when the tests run as root), on 127.0.0.1, and stopped after.
Where it cannot start, the test skips and says why. No mock database.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("optuna")
psycopg = pytest.importorskip("psycopg")

from test_tune import GANKIT, _check_exactly_once, kill_in_second_batch  # noqa: E402


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A private PostgreSQL server on 127.0.0.1 with an empty database ``gankit``: its URL."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (scripts/test-setup.sh installs Debian's postgresql)")
    home = Path(tempfile.mkdtemp(prefix="gankit-pg-"))
    prefix: list[str] = []
    if os.getuid() == 0:  # the server refuses to run as root: as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(home, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", _free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(home / "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
                        "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server would not start: {err}")
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE gankit")
        yield f"postgresql://postgres@127.0.0.1:{port}/gankit"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def test_three_workers_finish_every_trial_exactly_once_also_after_one_is_killed(postgres, tmp_path):
    import optuna

    out = tmp_path / "study"
    command = [*GANKIT, "tune", "--preset", "chapter-plus", "--n", "256", "--space", "lr_d=0.002:0.05:log",
               "--space", "lr_g=0.0005:0.01:log", "--trials", "18", "--batch", "3", "--storage", postgres,
               "--study", "three", "--heartbeat", "1", "--out", str(out), "--no-progress", "--no-plots"]
    # All three start together on a fresh database: the schema and the study are created once.
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    victim = workers[0]
    kill_in_second_batch(victim)
    victim.communicate(timeout=60)
    again = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [w.communicate(timeout=600) for w in (*workers[1:], again)]
    assert [w.returncode for w in (*workers[1:], again)] == [0, 0, 0], [e for _, e in outputs]
    assert "were lost with their worker: asked again" in "".join(o for o, _ in outputs)
    rows = _check_exactly_once(out, 18)
    assert any(r["state"] == "lost" for r in rows)
    # the database says the same: 18 finished trials, no trial still running or waiting
    study = optuna.load_study(study_name="three", storage=postgres.replace("postgresql://", "postgresql+psycopg://"))
    states = [t.state.name for t in study.get_trials()]
    assert "RUNNING" not in states and "WAITING" not in states
    finished = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 18 == len({t.number for t in finished})
