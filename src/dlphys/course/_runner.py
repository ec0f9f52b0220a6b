"""Runs *inside* the sandbox (copied to ``/grader/run.py``): execute the notebook, then collect the results.

Stand-alone on purpose: ``dlphys.course`` is hidden in the sandbox. Reads ``/grader/notebook.ipynb`` (the
normalised submission), ``/grader/spec.json`` (per-cell limit, what to collect) and ``/grader/harvest.py`` (the
kernel-side collector); writes to ``/scratch/out``: ``executed.ipynb`` (outputs cut to a size a browser can show)
and ``cells.json`` (after every cell: how far it got, which cells failed or were stopped). Everything written here
comes from the student's process and is treated by the grader as untrusted input.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

GRADER = Path(os.environ["DLPHYS_GRADER_DIR"])
OUT = Path(os.environ["DLPHYS_SCRATCH_DIR"]) / "out"
MAX_TEXT = 20_000  # characters of text output kept per output
MAX_OUTPUTS = 50  # outputs kept per cell
MAX_IMAGE = 2_000_000  # bytes of one base64 image kept
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


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> int:
    spec = json.loads((GRADER / "spec.json").read_text(encoding="utf-8"))
    nb = nbformat.read(GRADER / "notebook.ipynb", as_version=4)
    harvest = (GRADER / "harvest.py").read_text(encoding="utf-8")
    nb.cells.append(nbformat.v4.new_code_cell(harvest + "\n_dlphys_harvest()\ndel _dlphys_harvest\n"))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        timeout=spec["cell_timeout"],
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        resources={"metadata": {"path": os.getcwd()}},
    )
    # cell indices in cells.json are those of the notebook (the probe before it is cell -1)
    status = {"done": 0, "of": len(nb.cells) - 3, "errors": [], "timeouts": [], "dead": False, "probe": []}
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status["timeouts"].append(index - 1)
                except DeadKernelError:
                    status["dead"] = True
                    break
                except CellExecutionError:
                    pass
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
            _write(OUT / "cells.json", json.dumps(status))
    del nb.cells[-2:]  # the collector and the probes are ours, not part of the student's notebook
    del nb.cells[0]
    _write(OUT / "executed.ipynb", nbformat.writes(nb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
