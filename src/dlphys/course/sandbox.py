"""Run one student's notebook where it can reach nothing but its own scratch copy.

A :class:`Sandbox` runs a command with two folders: ``grader`` (read-only inside, at ``/grader``: the runner, the
normalised notebook, the grader's inputs) and ``scratch`` (writable inside, at ``/scratch``: the working
directory, ``$HOME`` and ``out/``, where the results are written). Everything else of the machine is either
absent or read-only, and the command and every process it starts are stopped when it ends or runs out of time.

:class:`Channels` hand files to the command by open file descriptor instead of a path inside: the grader's private
inputs (``DLPHYS_<NAME>_FD``, read-only) and the runner's own record (written through a descriptor to a host file
no path inside leads to). The runner reads its inputs, closes them and makes itself non-dumpable before the
student's kernel starts, so code in the notebook can neither open them by path nor reach them through
``/proc/<runner>/fd``.

- :class:`BwrapSandbox` (the default, Linux): bubblewrap (Debian package ``bubblewrap``) with new PID, network,
  IPC and UTS namespaces; a file system built from read-only binds of the system, the Python installation, the
  ``dlphys`` package *without* ``dlphys.course`` (the answer key and the grader), the data cache and the data
  mirror; no network but its own loopback; a fresh ``/tmp``. As root it drops to an unprivileged user id of its
  own (``setpriv``) with no capabilities; as another user it uses an unprivileged user namespace. Limits: a cgroup
  (v2, or the v1 ``memory`` and ``pids`` controllers) for memory and the number of processes where the
  machine lets us create one, and always rlimits (CPU seconds, file size, processes, core dumps; address space
  where no memory cgroup can be made), and the disk: the scratch copy and the log are measured every 2 s. The PID
  namespace ends every process with the sandbox.
- :class:`ContainerSandbox`: ``podman`` or ``docker run`` of the course image with ``--network none``,
  ``--read-only``, ``--memory``, ``--pids-limit``, ``--cpus`` and ``--user`` (for hubs that have an engine).
- :class:`UnsafeSandbox`: no isolation; only with ``--unsafe``, and every report says so on its first line.

:func:`default_sandbox` picks bubblewrap when it works here and raises :class:`SandboxUnavailable` otherwise.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

GiB = 1 << 30
UID_BASE, UID_SPAN = 610_000, 100_000
"""As root, a sandbox runs as user id ``UID_BASE + (grader's pid mod UID_SPAN)``: no other process has it, so the
per-user limits (``RLIMIT_NPROC``) count that sandbox only, and two graders never share a user id."""
MiB = 1 << 20


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine (grading then needs an explicit ``--unsafe``)."""


@dataclass(frozen=True)
class Limits:
    """What one notebook may use. Times in seconds, sizes in bytes."""

    wall: float = 900.0  # the whole run: kernel start, every cell, the collection of results
    cell: float = 300.0  # one cell (the runner interrupts it and goes on)
    memory: int = 6 * GiB  # resident memory of all processes together
    processes: int = 512  # processes and threads (TensorFlow starts a few dozen threads)
    cpu: float | None = None  # CPU seconds per process; default 4 × wall
    file_size: int = 512 * MiB  # largest file the notebook may write
    disk: int = 4 * GiB  # all it writes to its scratch folder and log together
    files: int = 100_000  # files and folders in its scratch folder

    @property
    def cpu_seconds(self) -> int:
        return int(self.cpu if self.cpu is not None else 4 * self.wall)


@dataclass
class Channels:
    """Host files handed to the sandboxed command by file descriptor (environment ``DLPHYS_<NAME>_FD``).

    ``read``: opened read-only (the grader's inputs). ``write``: created empty and opened for writing (what the
    runner records); the host reads them after the run. Where an engine cannot pass descriptors (containers), the
    read files are copied into ``/grader/private`` and the written ones come back from ``/scratch/out/private``
    (``DLPHYS_<NAME>_PATH``): private from the notebook there only as far as the engine's user separation goes.
    """

    read: dict[str, Path] = field(default_factory=dict)
    write: dict[str, Path] = field(default_factory=dict)

    @contextlib.contextmanager
    def opened(self):
        """Yield (environment, descriptors) with every file open; close them afterwards."""
        fds: list[int] = []
        env: dict[str, str] = {}
        try:
            for name, path in self.read.items():
                fds.append(os.open(path, os.O_RDONLY))
                env[f"DLPHYS_{name.upper()}_FD"] = str(fds[-1])
            for name, path in self.write.items():
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
                env[f"DLPHYS_{name.upper()}_FD"] = str(fds[-1])
            for fd in fds:
                os.set_inheritable(fd, True)
            yield env, fds
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


@dataclass
class Outcome:
    """How a sandboxed run ended."""

    returncode: int | None  # None: stopped by the grader (the wall-time or the disk limit)
    seconds: float
    limits_hit: list[str] = field(default_factory=list)  # "memory", "processes", "wall time", "cpu time", "disk"
    log: str = ""


# --------------------------------------------------------------------------------------- limits (host side)
class _Cgroup:
    """A cgroup for one run (v2, or v1 memory + pids), or nothing where the machine does not allow one."""

    def __init__(self, limits: Limits):
        self.paths: dict[str, Path] = {}
        name = f"dlphys-grade-{uuid.uuid4().hex[:12]}"
        root = Path("/sys/fs/cgroup")
        v2 = root / "cgroup.controllers"
        with contextlib.suppress(OSError):
            if v2.is_file():
                own = Path(open("/proc/self/cgroup").read().strip().split("::", 1)[-1].lstrip("/"))
                parent = root / own
                path = parent / name
                path.mkdir()
                self.paths["v2"] = path
                with contextlib.suppress(OSError):
                    (path / "memory.max").write_text(str(limits.memory))
                    (path / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):
                    (path / "pids.max").write_text(str(limits.processes))
                return
        for controller, settings in (
            ("memory", {"memory.limit_in_bytes": limits.memory}),
            ("pids", {"pids.max": limits.processes}),
        ):
            with contextlib.suppress(OSError, ValueError):
                line = next(
                    entry for entry in open("/proc/self/cgroup").read().splitlines() if f":{controller}:" in entry
                )
                parent = root / controller / line.split(":", 2)[2].lstrip("/")
                path = parent / name
                path.mkdir()
                for key, value in settings.items():
                    (path / key).write_text(str(value))
                self.paths[controller] = path

    @property
    def limits_memory(self) -> bool:
        return "v2" in self.paths or "memory" in self.paths

    def enter(self) -> None:
        """Move the calling process into the cgroup (called in the child before exec)."""
        for path in self.paths.values():
            procs = path / ("cgroup.procs" if (path / "cgroup.procs").exists() else "tasks")
            with contextlib.suppress(OSError):
                procs.write_text(str(os.getpid()))

    def hits(self) -> list[str]:
        hit = []
        with contextlib.suppress(OSError, ValueError):
            if "v2" in self.paths:
                events = dict(line.split() for line in (self.paths["v2"] / "memory.events").read_text().splitlines())
                if int(events.get("oom_kill", 0)) or int(events.get("max", 0)):
                    hit.append("memory")
                pids = dict(line.split() for line in (self.paths["v2"] / "pids.events").read_text().splitlines())
                if int(pids.get("max", 0)):
                    hit.append("processes")
        with contextlib.suppress(OSError, ValueError):
            if "memory" in self.paths:
                control = dict(
                    line.split() for line in (self.paths["memory"] / "memory.oom_control").read_text().splitlines()
                )
                if int(control.get("oom_kill", 0)) or int((self.paths["memory"] / "memory.failcnt").read_text()):
                    hit.append("memory")
        with contextlib.suppress(OSError, ValueError):
            if "pids" in self.paths:
                events = dict(line.split() for line in (self.paths["pids"] / "pids.events").read_text().splitlines())
                if int(events.get("max", 0)):
                    hit.append("processes")
        return hit

    def members(self) -> list[int]:
        pids: set[int] = set()
        for path in self.paths.values():
            procs = path / ("cgroup.procs" if (path / "cgroup.procs").exists() else "tasks")
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in procs.read_text().split()}
        return sorted(pids)

    def kill_and_remove(self) -> None:
        """Kill whatever is still in the cgroup, wait until it is empty, remove it."""
        deadline = time.monotonic() + 10
        while self.members() and time.monotonic() < deadline:
            for pid in self.members():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                path.rmdir()


def _rlimits(limits: Limits, memory_by_cgroup: bool) -> list[tuple[int, int]]:
    """(resource, value) pairs applied to the sandboxed process tree."""
    out = [
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, limits.processes),
    ]
    if not memory_by_cgroup:
        # TensorFlow reserves far more address space than it uses; 4 × the memory budget keeps it working and still
        # stops a runaway allocation.
        out.append((resource.RLIMIT_AS, 4 * limits.memory))
    return out


def _disk_use(folder: Path, log: Path, limits: Limits) -> bool:
    """Whether ``folder`` (with ``log``) holds more than ``limits.disk`` bytes or ``limits.files`` entries."""
    used, entries, stack = 0, 0, [folder]
    with contextlib.suppress(OSError):
        used += log.stat().st_blocks * 512
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    entries += 1
                    with contextlib.suppress(OSError):
                        info = entry.stat(follow_symlinks=False)
                        used += info.st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    if used > limits.disk or entries > limits.files:
                        return True
        except OSError:
            continue
    return False


def _run_limited(
    argv: list[str],
    limits: Limits,
    env: dict[str, str] | None,
    cwd: Path,
    log: Path,
    pass_fds: tuple[int, ...] = (),
    watch: Path | None = None,
) -> Outcome:
    """Run ``argv`` in its own session and cgroup with ``limits``; stop the whole tree at the wall-time limit, and
    when the folder ``watch`` (the scratch copy) and ``log`` hold more than the disk limits (checked every 2 s)."""
    cgroup = _Cgroup(limits)
    rlimits = _rlimits(limits, cgroup.limits_memory)

    def preexec():
        cgroup.enter()
        for which, value in rlimits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (value, value))

    start = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    hits: list[str] = []
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
            pass_fds=pass_fds,
        )
        try:
            code = None
            while code is None:
                left = limits.wall - (time.monotonic() - start)
                if left <= 0:
                    raise subprocess.TimeoutExpired(argv, limits.wall)
                try:
                    code = process.wait(timeout=min(2.0, left))
                except subprocess.TimeoutExpired:
                    if watch is not None and _disk_use(watch, log, limits):
                        hits.append("disk")
                        break
        except subprocess.TimeoutExpired:
            code = None
            hits.append("wall time")
        finally:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
            cgroup_hits = cgroup.hits()
            cgroup.kill_and_remove()
    seconds = time.monotonic() - start
    hits += [h for h in cgroup_hits if h not in hits]
    if code is not None and code < 0 and -code == signal.SIGXCPU:
        hits.append("cpu time")
    text = log.read_bytes()[-200_000:].decode("utf-8", errors="replace")
    return Outcome(code, seconds, hits, text)


# ------------------------------------------------------------------------------------------------ sandboxes
class Sandbox:
    """Runs ``python /grader/<script>`` with ``grader`` read-only and ``scratch`` writable (see module docs)."""

    name = "sandbox"
    isolated = True

    def run(
        self,
        script: str,
        grader: Path,
        scratch: Path,
        limits: Limits,
        env: dict[str, str],
        channels: Channels | None = None,
    ) -> Outcome:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def _environment(extra: dict[str, str], scratch: str, grader: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"{scratch}/home",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLCONFIGDIR": f"{scratch}/home/.matplotlib",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JUPYTER_RUNTIME_DIR": f"{scratch}/home/.jupyter-runtime",
        "IPYTHONDIR": f"{scratch}/home/.ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "DLPHYS_GRADER_DIR": grader,
        "DLPHYS_SCRATCH_DIR": scratch,
    }
    env.update(extra)
    return env


def _python_roots() -> list[Path]:
    """Folders the sandbox needs to run this Python: the installation and the virtual environment."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    exe = Path(sys.executable)
    roots.add(exe.parent.parent)  # the venv as called, before symlinks are resolved
    return sorted(roots)


def _package_dirs() -> tuple[Path, Path]:
    """The ``dlphys`` package folder (bound read-only) and ``dlphys.course`` in it (hidden)."""
    import dlphys
    import dlphys.course

    return Path(dlphys.__path__[0]).resolve(), Path(dlphys.course.__path__[0]).resolve()


class BwrapSandbox(Sandbox):
    """bubblewrap with namespaces, read-only binds, an unprivileged user and cgroup/rlimit limits."""

    name = "bubblewrap"

    def __init__(self, data_dirs: list[Path] | None = None, uid: int | None = None, executable: str | None = None):
        self.bwrap = executable or shutil.which("bwrap")
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap is not installed: `apt-get install bubblewrap` (Debian/Ubuntu), "
                "`dnf install bubblewrap` (Fedora), or grade with --sandbox container"
            )
        self.data_dirs = [Path(d).resolve() for d in (data_dirs or []) if Path(d).is_dir()]
        self.root = os.geteuid() == 0
        self.uid = uid if uid is not None else UID_BASE + os.getpid() % UID_SPAN
        self.setpriv = shutil.which("setpriv") if self.root else None
        if self.root and not self.setpriv:
            raise SandboxUnavailable("running as root needs setpriv (util-linux) to drop to an unprivileged user")

    def describe(self) -> str:
        who = f"user id {self.uid} without capabilities" if self.root else "an unprivileged user namespace"
        return f"bubblewrap ({who}; no network; read-only system; cgroup or rlimit limits)"

    def argv(self, script: str, grader: Path, scratch: Path, env: dict[str, str]) -> list[str]:
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
        args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if not self.root:
            args += ["--unshare-user"]
        made: set[str] = set()

        def parents(path: Path):
            for parent in reversed(path.parents):
                key = str(parent)
                if key != "/" and key not in made:
                    made.add(key)
                    args.extend(["--perms", "0755", "--dir", key])

        for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"):
            path = Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
            made.add(str(path))
        args += ["--ro-bind-try", "/sys", "/sys", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        made |= {"/sys", "/proc", "/dev", "/tmp"}
        package, course = _package_dirs()
        binds = [*_python_roots(), package, *self.data_dirs]
        bound: list[Path] = []
        for path in sorted(set(binds), key=lambda p: len(p.parts)):
            if path.parts[1] in ("usr", "etc") or any(path == b or b in path.parents for b in bound):
                continue  # already there
            parents(path)
            args += ["--ro-bind", str(path), str(path)]
            bound.append(path)
        args += ["--tmpfs", str(course)]  # the grader and the answer key: not there for the student's code
        args += ["--ro-bind", str(grader), "/grader", "--bind", str(scratch), "/scratch", "--chdir", "/scratch/work"]
        args += ["--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--"]
        if self.root:
            args += [self.setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
            args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        return [*args, sys.executable, f"/grader/{script}"]

    def run(self, script, grader, scratch, limits, env, channels=None) -> Outcome:
        _prepare_scratch(scratch, self.uid if self.root else None)
        log = scratch.parent / f"{scratch.name}.log"
        with (channels or Channels()).opened() as (fd_env, fds):
            argv = self.argv(script, grader, scratch, _environment({**env, **fd_env}, "/scratch", "/grader"))
            # the options go through a pipe (`--args`), so /proc/1/cmdline inside shows no host paths, only the command
            split = argv.index("--")
            options = "\0".join(argv[1:split]).encode() + b"\0"
            read, write = os.pipe()
            try:
                if len(options) > 60_000:  # more than a pipe holds before anyone reads: pass them as arguments
                    command = argv
                else:
                    os.write(write, options)
                    command = [argv[0], "--args", str(read), *argv[split:]]
                os.close(write)
                write = -1
                os.set_inheritable(read, True)
                return _run_limited(command, limits, None, scratch.parent, log, (*fds, read), watch=scratch)
            finally:
                for fd in (read, write):
                    if fd >= 0:
                        with contextlib.suppress(OSError):
                            os.close(fd)

    def check(self) -> None:
        """Raise :class:`SandboxUnavailable` unless a trivial command runs in this sandbox."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dlphys-sandbox-check-") as tmp:
            grader, scratch = Path(tmp, "grader"), Path(tmp, "scratch")
            grader.mkdir()
            (grader / "probe.py").write_text("import os; print('uid', os.getuid())\n")
            os.chmod(tmp, 0o755)
            os.chmod(grader, 0o755)
            os.chmod(grader / "probe.py", 0o644)
            outcome = self.run("probe.py", grader, scratch, Limits(wall=60), {})
            if outcome.returncode != 0 or "uid" not in outcome.log:
                raise SandboxUnavailable(f"bubblewrap does not work here: {outcome.log.strip()[-300:]}")


def _prepare_scratch(scratch: Path, owner: int | None) -> None:
    for sub in ("work", "home", "out"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    if owner is not None:
        for path in [scratch, *scratch.rglob("*")]:
            os.chown(path, owner, owner, follow_symlinks=False)


def _collect_written(channels: Channels, scratch: Path) -> None:
    """Copy what a container wrote to ``/scratch/out/private`` to the channel's host files (regular files only)."""
    for name, path in channels.write.items():
        source = scratch / "out" / "private" / name
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if source.is_file() and not source.is_symlink() and source.stat().st_size < (256 << 20):
            shutil.copyfile(source, path)
        else:
            Path(path).write_bytes(b"")


class ContainerSandbox(Sandbox):
    """``podman``/``docker run`` of the course image (needs a container engine and the image)."""

    name = "container"

    def __init__(self, image: str, engine: str | None = None, uid: int = 65_534):
        self.engine = engine or shutil.which("podman") or shutil.which("docker")
        if not self.engine:
            raise SandboxUnavailable("neither podman nor docker is installed")
        self.image, self.uid = image, uid

    def describe(self) -> str:
        return f"{Path(self.engine).name} container of {self.image} (no network, read-only, limits by the engine)"

    def argv(self, script: str, grader: Path, scratch: Path, limits: Limits, env: dict[str, str]) -> list[str]:
        args = [self.engine, "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp"]
        args += ["--memory", str(limits.memory), "--memory-swap", str(limits.memory)]
        args += ["--pids-limit", str(limits.processes), "--cpus", "1", "--user", f"{self.uid}:{self.uid}"]
        args += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        args += ["--ulimit", f"cpu={limits.cpu_seconds}", "--ulimit", f"fsize={limits.file_size}"]
        args += ["-v", f"{grader}:/grader:ro", "-v", f"{scratch}:/scratch", "-w", "/scratch/work"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, self.image, "python", f"/grader/{script}"]

    def run(self, script, grader, scratch, limits, env, channels=None) -> Outcome:
        channels = channels or Channels()
        _prepare_scratch(scratch, self.uid if os.geteuid() == 0 else None)
        paths = {}
        if channels.read:  # an engine passes no descriptors: the private files go in by path
            (grader / "private").mkdir(exist_ok=True)
        for name, path in channels.read.items():
            shutil.copyfile(path, grader / "private" / name)
            os.chmod(grader / "private" / name, 0o644)
            paths[f"DLPHYS_{name.upper()}_PATH"] = f"/grader/private/{name}"
        for name in channels.write:
            paths[f"DLPHYS_{name.upper()}_PATH"] = f"/scratch/out/private/{name}"
        argv = self.argv(script, grader, scratch, limits, _environment({**env, **paths}, "/scratch", "/grader"))
        log = scratch.parent / f"{scratch.name}.log"
        outcome = _run_limited(argv, limits, None, scratch.parent, log, watch=scratch)
        _collect_written(channels, scratch)
        return outcome


class UnsafeSandbox(Sandbox):
    """No isolation at all (``--unsafe``): the student's code can read and change everything the grader can."""

    name = "none (--unsafe)"
    isolated = False

    def describe(self) -> str:
        return "NO SANDBOX (--unsafe): the students' code ran with the grader's rights"

    def run(self, script, grader, scratch, limits, env, channels=None) -> Outcome:
        _prepare_scratch(scratch, None)
        with (channels or Channels()).opened() as (fd_env, fds):
            full_env = dict(os.environ)
            full_env.update(_environment({**env, **fd_env}, str(scratch), str(grader)))
            full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full_env["PATH"]])
            argv = [sys.executable, str(grader / script)]
            log = scratch.parent / f"{scratch.name}.log"
            return _run_limited(argv, limits, full_env, scratch / "work", log, tuple(fds), watch=scratch)


def default_sandbox(data_dirs: list[Path] | None = None) -> Sandbox:
    """The bubblewrap sandbox, checked to work here; :class:`SandboxUnavailable` where none can be made."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"bubblewrap needs Linux (this is {sys.platform}); use --sandbox container")
    sandbox = BwrapSandbox(data_dirs)
    sandbox.check()
    return sandbox
