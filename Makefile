# dlphys: `make lab` (set up + JupyterLab), `make test` (set up + all tests), `make run` (execute all solutions).
# Every target creates .venv on first use and is safe to repeat.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dlphys-installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))
# JupyterLab refuses to run as root unless told (containers, JupyterHub images).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install lab run test notebooks check-notebooks data bench clean test-min lint dist site readme

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

# What CI runs (.ci/run): lint, every unit test and every solution notebook in fast mode (the site build and the
# grading of crafted submissions are tests too), then the same package on the oldest allowed versions.
test: install lint sandbox
	DLPHYS_FAST=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env \
	  --durations=15 tests solutions
	DLPHYS_FAST=1 $(MAKE) --no-print-directory grade-trial
	$(MAKE) --no-print-directory test-min

notebooks: install
	$(PY) -m dlphys.course.notebooks solutions notebooks

check-notebooks: install
	$(PY) -m dlphys.course.notebooks --check solutions notebooks

# Grading (README "Grading"): `make grade SUBMISSIONS=DIR [GRADES=OUT] [JOBS=N]` runs every student's notebook
# in a bubblewrap sandbox and judges what it returns with the trusted checks (dlphys/course/checks/); it writes
# OUT/grades.csv, OUT/report.md and OUT/feedback/<student>/<exercise>.html. GRADE_ARGS="--timeout 600
# --cell-timeout 120 --memory 6" are the default limits per notebook. `make course` writes the nbgrader course
# (source/ with nbgrader metadata) for the formgrader, where the written answers are graded by hand.
# `make grade-trial` grades the course against itself: honest (solutions typed into notebooks/) and blank.
.PHONY: course grade grade-trial sandbox
COURSE ?= build/course
GRADES ?= build/grades
course: install
	$(PY) -m dlphys.course.notebooks nbgrader $(COURSE)

# bubblewrap, the sandbox of `make grade` (Debian package; as root on a fresh machine this installs it).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap (the grading sandbox) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "make grade needs bubblewrap: sudo apt-get install bubblewrap (or dnf/pacman install bubblewrap)"; \
	    exit 1; \
	  fi; }

grade: install sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADES=build/grades] [JOBS=N]"; exit 2; }
	$(PY) -m dlphys.course.grading $(SUBMISSIONS) $(GRADES) --jobs $(JOBS) $(GRADE_ARGS)

grade-trial: install sandbox
	$(PY) -m dlphys.course.trial --jobs $(JOBS) --out build/grade-trial

# The cluster path for real (README "Grading a class"): a single-node Slurm on this machine (Debian slurm-wlm and
# munge, installed and configured by cluster/slurm/start-local.sh as root), a class graded as an array job in
# shards and merged, compared with the local run; the Kubernetes and HTCondor launchers validated offline.
.PHONY: test-cluster
test-cluster: install sandbox
	$(PY) -m pip install --quiet -r cluster/requirements.txt
	bash cluster/slurm/start-local.sh
	DLPHYS_TEST_CLUSTER=1 DLPHYS_FAST=1 $(PY) -m pytest -p no:cacheprovider --durations=5 tests/cluster; \
	  status=$$?; bash cluster/slurm/stop-local.sh; exit $$status

data: install
	$(PY) -m dlphys.datasets generate all

# The course site in build/site (Sphinx + myst-nb): student versions; `make site EXECUTED=build` adds the
# executed solutions of `make run`. Warnings are errors; every internal link is checked.
site: install
	DLPHYS_HUB=$(HUB) $(PY) -m dlphys.course.site $(if $(EXECUTED),--solutions $(EXECUTED))

# The README's JupyterHub column: nbgitpuller links to the course's hub (make readme HUB=https://hub...), or
# mybinder.org links without HUB.
readme: install
	$(PY) -m dlphys.course.release readme README.md $(if $(HUB),--hub $(HUB))

bench: install
	$(PY) benchmarks/run_all.py

# --- the oldest allowed versions (issue 13): requirements-min.lock pins every dependency at its floor in
# pyproject.toml. Unit tests (without the grading and site tooling, which need the extras) and the Part I
# notebooks in fast mode; DLPHYS_CHECK_INSTALL=1 also checks that the Colab install command, run from the
# checkout, leaves TensorFlow and Keras as they are (needs the package index, like the install).
PYTHON_MIN ?= python3.11
VENV_MIN   ?= .venv-min
PY_MIN     := $(VENV_MIN)/bin/python
STAMP_MIN  := $(VENV_MIN)/.dlphys-installed
MIN_TESTS  ?= tests --ignore=tests/cluster $(addprefix --ignore=tests/course/,test_site.py test_notebooks.py \
  test_grading.py test_course.py test_sandbox.py test_class_scale.py test_release.py test_feedback.py)
MIN_NOTEBOOKS := $(sort $(wildcard solutions/0[345]_*.ipynb))

$(STAMP_MIN): pyproject.toml requirements-min.lock
	test -x $(PY_MIN) || $(PYTHON_MIN) -m venv $(VENV_MIN)
	$(PY_MIN) -m pip install --quiet -r requirements-min.lock
	$(PY_MIN) -m pip install --quiet --no-deps -e .
	touch $(STAMP_MIN)

test-min: $(STAMP_MIN)
	DLPHYS_FAST=1 DLPHYS_CHECK_INSTALL=1 $(PY_MIN) -m pytest -n $(JOBS) --dist loadfile --nbval-lax \
	  --nbval-current-env --durations=10 $(MIN_TESTS) $(MIN_NOTEBOOKS)

# ruff (configured in pyproject.toml) on the code and on the solutions' code cells; the student notebooks
# are generated from the solutions. `make lint` only checks; `ruff check --fix` / `ruff format` fix.
LINT_PATHS ?= src tests benchmarks solutions docs

lint: install
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# A student release without solutions (README "Handing out"): make release RELEASE_REPO=<git URL> [RELEASE_BRANCH=main]
# [HUB=https://hub.example.org] [PREVIOUS=<checkout of the last release>] writes build/release/.
RELEASE_BRANCH ?= main
.PHONY: release
release: install
	@test -n "$(RELEASE_REPO)" || { echo "usage: make release RELEASE_REPO=<git URL of the student release> [HUB=...]"; exit 2; }
	$(PY) -m dlphys.course.release build/release --repository $(RELEASE_REPO) --branch $(RELEASE_BRANCH) \
	  $(if $(HUB),--hub $(HUB)) $(if $(PREVIOUS),--previous $(PREVIOUS))

# Wheel and sdist of the package, and dist/dlphys-notebooks-<version>.zip: the student notebooks with a
# short README (lms/README.md), for an LMS upload.
VERSION = $(shell $(PY) -c "from importlib.metadata import version; print(version('dlphys'))")

dist: install
	rm -rf dist/dlphys-*
	$(PY) -m build --outdir dist .
	rm -rf build/lms && mkdir -p build/lms/dlphys-notebooks-$(VERSION)
	cp notebooks/*.ipynb build/lms/dlphys-notebooks-$(VERSION)/
	sed "s/@VERSION@/$(VERSION)/g" lms/README.md > build/lms/dlphys-notebooks-$(VERSION)/README.md
	cd build/lms && $(abspath $(PY)) -m zipfile -c ../../dist/dlphys-notebooks-$(VERSION).zip \
	  dlphys-notebooks-$(VERSION)
	@ls -l dist

clean:
	rm -rf build dist .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
