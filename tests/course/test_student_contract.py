"""What a student sees: every name they must create is announced, and the cells are quiet.

The static test reads each solution with :mod:`ast`. A name bound only inside a
``### BEGIN SOLUTION`` block (assigned, defined, imported or a loop variable, at notebook level) and
used anywhere after that block must appear in backticks in a markdown cell *before* the block, e.g.
"`accuracy`: a dict width → list of test accuracies". Otherwise the student version cannot be
completed from the page: later cells and asserts would use a name the student never heard of.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest

from dlphys.course.notebooks import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
BACKTICKED = re.compile(r"`([^`\n]+)`")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _python(source: str) -> str:
    """Cell source with IPython magics and shell lines blanked (line numbers are kept)."""
    lines = source.splitlines()
    return "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in lines
    )


def _solution_lines(source: str) -> list[tuple[int, int]]:
    """1-based (first, last) line numbers of each fenced block of ``source``, markers included."""
    blocks, start = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip().startswith(BEGIN):
            start = number
        elif line.strip().startswith(END) and start is not None:
            blocks.append((start, number))
            start = None
    return blocks


def _bound_names(node: ast.AST) -> set[str]:
    """Names a notebook-level statement binds (function and class bodies, comprehensions excluded)."""
    names: set[str] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
            return
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, ast.alias):
            names.add((n.asname or n.name).split(".")[0])
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return names


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def unannounced_names(nb: nbformat.NotebookNode) -> list[str]:
    """Problems of notebook ``nb``: names bound only in a solution block, used later, never announced."""
    announced: set[str] = set()
    bound_outside: set[str] = set()
    pending = []  # (block, names bound in it, names announced before it); block = (cell, first line)
    uses = []  # (cell, line, block or None, names loaded) of every notebook-level statement
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for span in BACKTICKED.findall(cell.source):
                announced.update(IDENTIFIER.findall(span))
            continue
        if cell.cell_type != "code":
            continue
        blocks = _solution_lines(cell.source)
        for statement in ast.parse(_python(cell.source)).body:
            block = next(
                (
                    (index, first)
                    for first, last in blocks
                    if first <= statement.lineno and statement.end_lineno <= last
                ),
                None,
            )
            if block is None:
                bound_outside.update(_bound_names(statement))
            else:
                pending.append((block, _bound_names(statement), set(announced)))
            # uses inside solution blocks count too (a later task's solution uses an earlier one's result)
            uses.append((index, statement.lineno, block, _loads(statement)))
    bound_in = {}  # block -> every name bound in it: a block that binds a name itself does not "use" it
    for block, names, _ in pending:
        bound_in.setdefault(block, set()).update(names)
    problems = []
    for block, names, known in pending:
        for name in sorted(names - bound_outside - known):
            later = [
                cell
                for cell, line, where, loaded in uses
                if name in loaded and where != block and (cell, line) > block and name not in bound_in.get(where, ())
            ]
            if later:
                problems.append(
                    f"`{name}` (solution in cell {block[0]}, used in cell {later[0]}) is not announced "
                    f"in backticks in a markdown cell before its solution block"
                )
    return sorted(set(problems))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_name_a_student_must_create_is_announced(path):
    problems = unannounced_names(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def _demo(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s) if k == "md" else nbformat.v4.new_code_cell(s) for k, s in cells]
    return nb


def test_unannounced_solution_name_used_later_is_reported():
    nb = _demo(("md", "Train a model."), ("code", f"{BEGIN}\nmodel = 1\n{END}"), ("code", "print(model)"))
    assert ["`model`" in p for p in unannounced_names(nb)] == [True]


def test_name_announced_in_backticks_before_the_block_passes():
    nb = _demo(
        ("md", "Define `model`: the trained network."), ("code", f"{BEGIN}\nmodel = 1\n{END}"), ("code", "print(model)")
    )
    assert unannounced_names(nb) == []


def test_announcement_after_the_block_is_too_late():
    nb = _demo(("code", f"{BEGIN}\nmodel = 1\n{END}"), ("md", "`model`"), ("code", "print(model)"))
    assert len(unannounced_names(nb)) == 1


def test_use_in_the_same_cell_after_the_block_counts_and_helpers_inside_are_ignored():
    nb = _demo(
        ("code", f"{BEGIN}\ndef helper(a):\n    inner = a\n    return inner\nres = helper(2)\n{END}\nprint(res)"),
        ("code", "print(inner)"),
    )
    assert [p.split("`")[1] for p in unannounced_names(nb)] == ["res"]


def test_given_names_rebound_in_a_solution_are_not_reported():
    nb = _demo(("code", "x = 0"), ("code", f"{BEGIN}\nx = 1\n{END}"), ("code", "print(x)"))
    assert unannounced_names(nb) == []


def test_later_solution_block_that_rebinds_the_name_is_not_a_use():
    nb = _demo(
        ("code", f"{BEGIN}\nfor i in range(2):\n    pass\n{END}"),
        ("code", f"{BEGIN}\nfor i in range(3):\n    print(i)\n{END}"),
    )
    assert unannounced_names(nb) == []


def test_later_solution_block_using_an_earlier_result_counts_as_a_use():
    nb = _demo(("code", f"{BEGIN}\nmodel = 1\n{END}"), ("code", f"{BEGIN}\nscore = model + 1\n{END}"))
    assert [p.split("`")[1] for p in unannounced_names(nb)] == ["model"]


# --- quiet cells ------------------------------------------------------------------------------------
TF_STARTUP_NOISE = re.compile(
    r"absl::InitializeLog|Could not find cuda drivers|oneDNN custom operations|"
    r"cudart_stub|^[IWE]\d{4} \d\d:\d\d:",
    re.M,
)


def _execute(path: Path, extra_cell: str | None = None) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if extra_cell:
        nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    # ipykernel forwards the C-level stderr (fd 2) into cell outputs, as students see it, except under
    # pytest (it checks PYTEST_CURRENT_TEST): start the kernel without that variable.
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute(env=env)
    return nb


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if out.output_type == "stream" else str(out.get("data", {})))
    return "\n".join(parts)


@pytest.fixture
def student_environment(monkeypatch):
    """The environment a student has: no oneDNN switch, no TF log level set by the test harness."""
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("DLPHYS_FAST", "1")


def test_keras_notebook_shows_no_tensorflow_startup_lines(student_environment):
    nb = _execute(ROOT / "solutions" / "04_2_keras_linear_regression.ipynb")
    text = _outputs_text(nb)
    assert "keras" in "".join(c.source for c in nb.cells), "this test needs a notebook that imports Keras"
    found = TF_STARTUP_NOISE.findall(text)
    assert not found, f"TensorFlow start-up lines reached the notebook's outputs: {found}"


def test_numpy_only_notebook_never_imports_tensorflow(student_environment):
    nb = _execute(
        ROOT / "solutions" / "03_2_wine_linear_regression.ipynb",
        extra_cell="import sys\nprint('tensorflow loaded:', 'tensorflow' in sys.modules)",
    )
    assert "tensorflow loaded: False" in _outputs_text(nb)
    assert not TF_STARTUP_NOISE.search(_outputs_text(nb))


def test_other_tensorflow_import_errors_still_reach_stderr(tmp_path):
    """The quiet import drops only the known start-up lines: anything else written to fd 2 is passed on."""
    import subprocess
    import sys

    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\nos.write(2, b'I0000 00:00:1.5    7 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'something important\\n')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", "import dlphys, tensorflow"], capture_output=True, text=True, env=env, check=True
    )
    assert "something important" in run.stderr and "oneDNN" not in run.stderr
