# dlphys: `make lab` (set up + JupyterLab), `make test` (set up + all tests), `make run` (execute all solutions).
# Every target creates .venv on first use and is safe to repeat.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dlphys-installed
JOBS   ?= 2
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))
# JupyterLab refuses to run as root unless told (containers, JupyterHub images).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install lab run test notebooks check-notebooks data bench clean site

install: $(STAMP)

# Exact versions from requirements.lock (what CI tests); the package itself in editable mode.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab $(LAB_ARGS) notebooks

# Full mode unless DLPHYS_FAST=1 is set: executed copies and HTML in build/. A notebook that fails (e.g. one
# whose data cannot be had offline) does not stop the others; the failures are listed and make exits non-zero.
run: install
	@mkdir -p build; failed=""; \
	for nb in $(SOLUTIONS); do \
	  echo "== $$nb"; start=$$(date +%s); \
	  if $(VENV)/bin/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=-1 \
	       --output-dir build "$$nb" --log-level=WARN && \
	     $(VENV)/bin/jupyter nbconvert --to html --output-dir build "build/$$(basename $$nb)" --log-level=WARN; then \
	    echo "   $$(( $$(date +%s) - start )) s"; \
	  else \
	    echo "   FAILED after $$(( $$(date +%s) - start )) s"; failed="$$failed $$nb"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "make run: these notebooks failed:$$failed"; exit 1; fi

test: install
	DLPHYS_FAST=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env \
	  --durations=15 tests solutions

notebooks: install
	$(PY) -m dlphys.notebooks solutions notebooks

check-notebooks: install
	$(PY) -m dlphys.notebooks --check solutions notebooks

# nbgrader (README "Grading with nbgrader"): `make course` writes the course directory (nbgrader_config.py,
# source/<exercise>/<exercise>.ipynb); `make grade SUBMISSIONS=DIR` grades an LMS export (one folder per
# student) in fast mode into $(GRADES): grades.csv, report.md, feedback/<student>/<exercise>.html.
# GRADE_ARGS="--timeout 600 --cell-timeout 120" are the default limits per notebook and per cell.
.PHONY: course grade
COURSE ?= build/course
GRADES ?= build/grades
course: install
	$(PY) -m dlphys.notebooks nbgrader $(COURSE)

grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADES=build/grades]"; exit 2; }
	$(PY) -m dlphys.grading $(SUBMISSIONS) $(GRADES) $(GRADE_ARGS)

data: install
	$(PY) -m dlphys.datasets generate all

# The course site in build/site (Sphinx + myst-nb): student versions; `make site EXECUTED=build` adds the
# executed solutions of `make run`. Warnings are errors; every internal link is checked.
site: install
	$(PY) -m dlphys.site $(if $(EXECUTED),--solutions $(EXECUTED))

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
