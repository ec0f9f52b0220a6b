"""The sandbox on its own: what a script inside can see, write and reach, and that nothing outlives it."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from dlphys.course import sandbox as sb

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("DLPHYS_SKIP_SANDBOX") == "1", reason="DLPHYS_SKIP_SANDBOX=1: no sandbox on this machine"
)


def _run(tmp_path: Path, source: str, limits: sb.Limits | None = None) -> tuple[sb.Outcome, dict]:
    grader, scratch = tmp_path / "grader", tmp_path / "scratch"
    grader.mkdir()
    (grader / "probe.py").write_text(textwrap.dedent(source))
    for path in (tmp_path, grader, grader / "probe.py"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    box = sb.default_sandbox([ROOT / "data"])
    outcome = box.run("probe.py", grader, scratch, limits or sb.Limits(wall=60), {})
    report = scratch / "out" / "probe.json"
    return outcome, json.loads(report.read_text()) if report.is_file() else {}


def test_inside_sees_the_library_but_not_the_course_the_solutions_or_the_network(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    outcome, seen = _run(
        tmp_path,
        f"""
        import json, os, socket
        seen = {{"uid": os.getuid()}}
        import dlphys.datasets
        seen["library"] = True
        try:
            import dlphys.course.checks
            seen["course"] = True
        except ImportError:
            seen["course"] = False
        seen["solutions"] = os.path.exists({str(ROOT / "solutions")!r})
        seen["root_home"] = os.listdir("/root")
        for path in ("/etc/dlphys-probe", {str(ROOT / "data" / "probe")!r}, "/grader/probe.py"):
            try:
                open(path, "w").write("x")
                seen[path] = "written"
            except OSError as exc:
                seen[path] = type(exc).__name__
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            seen["network"] = "connected"
        except OSError as exc:
            seen["network"] = type(exc).__name__
        open("/scratch/out/probe.json", "w").write(json.dumps(seen))
        """,
    )
    listener.close()
    assert outcome.returncode == 0, outcome.log
    assert seen["library"] and not seen["course"] and not seen["solutions"]
    assert seen["network"] != "connected"
    assert all(seen[p] != "written" for p in ("/etc/dlphys-probe", str(ROOT / "data" / "probe"), "/grader/probe.py"))
    assert not (ROOT / "data" / "probe").exists()
    if os.geteuid() == 0:
        assert seen["uid"] != 0  # an unprivileged user, not root


def test_wall_time_limit_ends_every_process_the_script_started(tmp_path):
    start = time.monotonic()
    outcome, _ = _run(
        tmp_path,
        """
        import subprocess, time
        subprocess.Popen(["sh", "-c", "sleep 120 # dlphys-sandbox-probe"], start_new_session=True)
        time.sleep(120)
        """,
        sb.Limits(wall=3),
    )
    assert outcome.returncode is None and "wall time" in outcome.limits_hit
    assert time.monotonic() - start < 30
    left = [p for p in psutil.process_iter(["cmdline"]) if "dlphys-sandbox-probe" in " ".join(p.info["cmdline"] or [])]
    assert left == []


@pytest.mark.parametrize(
    "source",
    [
        # many files of the largest size a file may have: together more than the disk limit
        "for i in range(100):\n    open(f'big{i}', 'wb').write(bytes(8 << 20))\ntime.sleep(60)",
        # many empty files: more than the number of files allowed
        "for i in range(5000):\n    open(f'f{i}', 'w').close()\ntime.sleep(60)",
    ],
    ids=["bytes", "files"],
)
def test_the_disk_limit_stops_a_notebook_that_fills_the_disk(tmp_path, source):
    start = time.monotonic()
    outcome, _ = _run(tmp_path, "import time\n" + source, sb.Limits(wall=60, disk=64 * sb.MiB, files=2000))
    assert outcome.returncode is None and outcome.limits_hit == ["disk"]
    assert time.monotonic() - start < 40  # well before the wall time: stopped by the disk limit


def test_container_sandbox_asks_the_engine_for_isolation_and_limits(tmp_path):
    box = sb.ContainerSandbox("dlphys-course:1", engine="/usr/bin/podman")
    args = box.argv("run.py", tmp_path / "g", tmp_path / "s", sb.Limits(memory=2 * sb.GiB, processes=128), {"A": "1"})
    joined = " ".join(args)
    for flag in ("--network none", "--read-only", "--memory 2147483648", "--pids-limit 128", "--cap-drop ALL"):
        assert flag in joined
    assert f"{tmp_path / 'g'}:/grader:ro" in joined and args[-3:] == ["dlphys-course:1", "python", "/grader/run.py"]


def test_unsafe_mode_says_so():
    assert not sb.UnsafeSandbox.isolated and "NO SANDBOX" in sb.UnsafeSandbox().describe()
