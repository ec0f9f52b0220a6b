"""The feedback page shows the student's notebook as a notebook (headings, paragraphs, plots) and runs nothing."""

import re

import nbformat

from dlphys.course.grading import _html_exporter, _sanitise


def _page(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return _sanitise(_html_exporter().from_notebook_node(nb)[0])


def test_headings_paragraphs_and_plots_render_as_html():
    page = _page(
        nbformat.v4.new_markdown_cell("## (1) A task\n\nSome *text*."),
        nbformat.v4.new_code_cell(
            "plot()", outputs=[nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
        ),
    )
    assert re.search(r"<h2 [^>]*>\(1\) A task", page) and "<p>Some <em>text</em>.</p>" in page
    assert re.search(r'<img [^>]*src="data:image/png;base64,iVBORw0KGgo="', page)
    assert "&lt;h2" not in page and "&lt;p&gt;" not in page


def test_scripts_handlers_frames_and_script_links_are_neutralised():
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)"><iframe src="https://e.org"></iframe>'
    page = _page(
        nbformat.v4.new_markdown_cell(attack + " [x](javascript:alert(3))"),
        nbformat.v4.new_code_cell(
            "", outputs=[nbformat.v4.new_output("display_data", data={"text/html": attack + "<style>*{}</style>"})]
        ),
    )
    lowered = page.lower()
    for bad in ("<script", "onerror=", "<iframe", 'href="javascript:', "<style", 'src="x"'):
        assert bad not in lowered, bad


def test_a_docstring_that_mentions_compile_is_not_flagged_but_a_call_of_eval_is():
    from dlphys.course.submission import lint

    course = nbformat.v4.new_notebook()
    course.cells = [nbformat.v4.new_code_cell("# YOUR CODE HERE")]
    student = nbformat.v4.new_notebook()
    student.cells = [
        nbformat.v4.new_code_cell('def run():\n    """Build, compile (MSE) and train."""\n    return 1  # eval (no)'),
        nbformat.v4.new_code_cell('x = eval("1 + 1")'),
        nbformat.v4.new_code_cell('%%time\nexec ("y = 2")'),
    ]
    _, flags = lint(student, course)
    assert [flag.split(",")[0] for flag in flags] == ["cell 1", "cell 2"], flags
