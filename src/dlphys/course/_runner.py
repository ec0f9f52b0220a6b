"""Runs *inside* the sandbox (copied to ``/grader/run.py``): execute the notebook, then collect the results.

Stand-alone on purpose: ``dlphys.course`` is hidden in the sandbox. Reads ``/grader/notebook.ipynb`` (the
normalised submission) and ``/grader/harvest.py`` (the kernel-side collector). What the student's code must not
see comes and goes by file descriptor (see ``sandbox.Channels``), read or opened before the kernel starts, while
this process is non-dumpable (so ``/proc/<this pid>/fd`` and its memory are closed to the kernel, which runs as the
same user):

- ``spec`` (per-cell limit, what to collect) and ``inputs`` (the grader's fresh inputs, ``.npz``): read at once and
  closed; written to a new folder under ``/scratch`` only after the student's last cell, for the collector;
- ``status`` (after every cell: how far it got, which cells failed or were stopped) and ``notebook`` (the executed
  notebook, outputs cut to a size a browser can show): written here only;
- ``results`` and ``arrays``: what the collector wrote to ``/scratch/out/results.json`` and ``results.npz``, read
  here, inside the sandbox, as regular files and never through a link (a link the notebook planted there could
  otherwise point the grader, outside, at another student's files). Their content comes from the student's
  process and is treated by the judge as untrusted input.
"""

import ctypes
import json
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

GRADER = Path(os.environ["DLPHYS_GRADER_DIR"])
OUT = Path(os.environ["DLPHYS_SCRATCH_DIR"]) / "out"
MAX_TEXT = 20_000  # characters of text output kept per output
MAX_OUTPUTS = 50  # outputs kept per cell
MAX_IMAGE = 2_000_000  # bytes of one base64 image kept
GRACE = 15  # seconds the kernel has to answer again after the interrupt of a cell that ran out of time
# Run before the first and after the last cell: what of IPython's machinery the notebook changed (for the report's
# flags only; a notebook can lie here, and nothing depends on it but a note to the instructor).
PROBE = """\
def _dlphys_probe():
    import json, sys
    shell = get_ipython()
    print("DLPHYS-PROBE", json.dumps({
        "input transformers": len(shell.input_transformers_post) + len(shell.input_transformers_cleanup),
        "AST transformers": len(shell.ast_transformers),
        "event callbacks": sum(
            not getattr(f, "__module__", "").startswith(("matplotlib", "IPython", "ipykernel"))
            for v in shell.events.callbacks.values() for f in v
        ),
        "sys.settrace": int(sys.gettrace() is not None),
        "sys.setprofile": int(sys.getprofile() is not None),
    }))
_dlphys_probe()
del _dlphys_probe
"""


def _trim(cell) -> None:
    outputs = cell.get("outputs", [])
    if len(outputs) > MAX_OUTPUTS:
        outputs[:] = outputs[:MAX_OUTPUTS]
    for output in outputs:
        if "text" in output and len(output["text"]) > MAX_TEXT:
            output["text"] = output["text"][:MAX_TEXT] + f"\n[... output cut at {MAX_TEXT} characters]"
        data = output.get("data", {})
        for key in list(data):
            value = data[key] if isinstance(data[key], str) else json.dumps(data[key])
            limit = MAX_IMAGE if key.startswith("image/") else MAX_TEXT
            if len(value) > limit:
                data[key] = "[output too large: cut by the grader]" if key.startswith("text/") else ""
                if not key.startswith("text/"):
                    del data[key]
        if output.get("output_type") == "error":
            output["traceback"] = output.get("traceback", [])[-20:]


def _private() -> None:
    """Make this process non-dumpable: other processes of the same user get no /proc/<pid>/fd, mem or ptrace."""
    PR_SET_DUMPABLE = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _read_channel(name: str, fallback: Path) -> bytes:
    fd = os.environ.pop(f"DLPHYS_{name.upper()}_FD", None)
    if fd is not None:
        with os.fdopen(int(fd), "rb") as handle:
            return handle.read()
    path = os.environ.pop(f"DLPHYS_{name.upper()}_PATH", None)
    return Path(path or fallback).read_bytes()


class _Record:
    """A file this process rewrites (through its descriptor, or at a path where no descriptor was passed)."""

    def __init__(self, name: str, fallback: Path):
        fd = os.environ.pop(f"DLPHYS_{name.upper()}_FD", None)
        self.fd = int(fd) if fd is not None else None
        if self.fd is not None:
            os.set_inheritable(self.fd, False)
        path = os.environ.pop(f"DLPHYS_{name.upper()}_PATH", None)
        self.path = Path(path or fallback)

    def write(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)


def _regular_file(path: Path, limit: int = 512 << 20) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link, not a device), else nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return b""
        data = handle.read(limit + 1)
    return data if len(data) <= limit else b""


def _answers(client: NotebookClient, seconds: float) -> bool:
    """Whether the kernel runs an empty cell within ``seconds`` (after an interrupt it should be idle again)."""
    probe = nbformat.v4.new_code_cell("pass")
    timeout, client.timeout = client.timeout, seconds
    started = time.monotonic()
    try:
        client.execute_cell(probe, -1)
    except (CellTimeoutError, CellExecutionError):
        return False
    except DeadKernelError:
        return False
    finally:
        client.timeout = timeout
    return time.monotonic() - started < seconds


def main() -> int:
    _private()
    spec = json.loads(_read_channel("spec", GRADER / "spec.json"))
    inputs = _read_channel("inputs", GRADER / "inputs.npz")
    status_record = _Record("status", OUT / "cells.json")
    notebook_record = _Record("notebook", OUT / "executed.ipynb")
    # made now, so that their descriptors are not inherited by the kernel (a red team found them open there)
    results_records = [
        _Record(name, OUT / "private" / f) for name, f in (("results", "results.json"), ("arrays", "results.npz"))
    ]
    nb = nbformat.read(GRADER / "notebook.ipynb", as_version=4)
    harvest = (GRADER / "harvest.py").read_text(encoding="utf-8")
    handover = Path(tempfile.mkdtemp(prefix="harvest-", dir=OUT.parent))
    collector = nbformat.v4.new_code_cell(f"{harvest}\n_dlphys_harvest({str(handover)!r})\ndel _dlphys_harvest\n")
    nb.cells.append(collector)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        timeout=spec["cell_timeout"],
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        # after the interrupt nbclient returns at once instead of waiting for the cell, which a cell that catches
        # KeyboardInterrupt never ends: the loop below then gives the kernel GRACE seconds to answer again
        error_on_timeout={"ename": "CellTimeout", "evalue": "stopped at the time limit per cell", "traceback": []},
        resources={"metadata": {"path": os.getcwd()}},
    )
    # the collector limits each expression itself (collect_timeout); as a cell it has only the wall time
    client.timeout_func = lambda cell: None if cell is collector else client.timeout
    # cell indices in cells.json are those of the notebook (the probe before it is cell -1)
    status = {"done": 0, "of": len(nb.cells) - 3, "errors": [], "timeouts": [], "dead": False, "probe": []}
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if index == len(nb.cells) - 2:  # the collector: the student's cells are done, hand over the inputs
                (handover / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
                (handover / "inputs.npz").write_bytes(inputs)
            if cell.cell_type == "code":
                started = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status["timeouts"].append(index - 1)
                except DeadKernelError:
                    status["dead"] = True
                    break
                except CellExecutionError:
                    pass
                if cell is not collector and time.monotonic() - started >= spec["cell_timeout"]:  # interrupted
                    if index - 1 not in status["timeouts"]:
                        status["timeouts"].append(index - 1)
                    if not _answers(client, GRACE):  # the cell ignores the interrupt: stop the kernel, not wait
                        status["stuck"] = index - 1
                        client.shutdown_kernel = "immediate"
                        _trim(cell)
                        status_record.write(json.dumps(status))
                        break
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        name = output.get("ename", "Error")
                        if name == "KeyboardInterrupt" and index - 1 not in status["timeouts"]:
                            status["timeouts"].append(index - 1)
                        status["errors"].append([index - 1, name, str(output.get("evalue", ""))[:300]])
                        break
                    text = output.get("text", "")
                    if index in (0, len(nb.cells) - 1) and "DLPHYS-PROBE" in text:
                        try:
                            status["probe"].append(json.loads(text.split("DLPHYS-PROBE", 1)[1]))
                        except ValueError:
                            pass
                _trim(cell)
            status["done"] = min(index, status["of"])
            status_record.write(json.dumps(status))
    for record, filename in zip(results_records, ("results.json", "results.npz"), strict=True):
        record.write_bytes(_regular_file(OUT / filename))
    del nb.cells[-2:]  # the collector and the probes are ours, not part of the student's notebook
    del nb.cells[0]
    notebook_record.write(nbformat.writes(nb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
