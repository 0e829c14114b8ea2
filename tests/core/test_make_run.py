"""`make run`: the web server and the scheduler start together, and Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(session_id: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "sid=,args="],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line.split(None, 1)[1]
        for line in out.splitlines()
        if line.split(None, 1)[0] == str(session_id) and "flask" in line
    ]


def _as_from_a_terminal() -> None:
    # A session of its own (so the test can "press Ctrl-C" on the whole group),
    # and SIGINT not ignored, as it is for a command typed in a terminal.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="needs make")
def test_make_run_serves_and_schedules_and_ctrl_c_stops_both(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "PORT": str(port),
        # Given, so the test leaves the project's instance/secret_key alone (without it
        # every process reads that one file: tests/core/test_config.py).
        "SECRET_KEY": "make-run-test-" + "k" * 32,
    }
    env.pop("BASE_URL", None)
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(  # noqa: S603
        ["make", "--no-print-directory", "run"],  # noqa: S607
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        status = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and status is None:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:  # noqa: S310
                    status = r.status
            except OSError:
                assert proc.poll() is None, (tmp_path / "run.log").read_text()
        assert status == 200, (tmp_path / "run.log").read_text()
        # make run serves BASE_URL=http://127.0.0.1:PORT, and no other host.
        assert f"Engawa on http://127.0.0.1:{port} " in (tmp_path / "run.log").read_text()
        forged = urllib.request.Request(  # noqa: S310
            f"http://127.0.0.1:{port}/login", headers={"Host": "evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)  # noqa: S310
        assert refused.value.code == 400
        refused.value.close()
        while "job calendar_sync: ok" not in (tmp_path / "run.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        running = _processes_of(proc.pid)
        assert any("scheduler run" in p for p in running), running
        assert any(" run --host" in p for p in running), running

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(30)
        time.sleep(0.5)
        assert _processes_of(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
