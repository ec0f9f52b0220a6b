"""The install address, the version floors and the Colab install cell (issue 13 §2)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import dlphys
from dlphys.course import install as _install

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What the Colab install cell must leave alone: the preinstalled deep-learning stack.
KEPT = {"tensorflow", "keras", "tf-keras"}


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            package, _, version = line.partition("==")
            pins[canonicalize_name(package)] = version
    return pins


def _floors() -> dict[str, str]:
    """Package → the lower bound that ``pyproject.toml`` gives it (``>=X``)."""
    floors = {}
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"{dependency!r}: give exactly one lower bound (>=), the tested floor"
        floors[canonicalize_name(requirement.name)] = lower[0]
    return floors


# --- the install cell --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_installs_from_the_one_address(path):
    assert not _install.check([path]), (
        f"{path.name}: the Colab install cell differs from dlphys.course.install.install_cell_source(); "
        "run `python -m dlphys.course.install --fix solutions`"
    )


def test_install_cell_is_guarded_and_names_the_repository():
    source = _install.install_cell_source()
    assert 'if "google.colab" in sys.modules:' in source
    assert f'%pip install -q "dlphys @ git+{_install.REPOSITORY}' in source
    assert _install.requirement("https://example.org/course/dlphys", "v1.2.3") == (
        "dlphys @ git+https://example.org/course/dlphys@v1.2.3"
    )


def test_release_tag_names_the_version_in_pyproject():
    version = PYPROJECT["project"]["version"]
    assert _install.RELEASE_TAG in (None, f"v{version}"), (
        f"RELEASE_TAG {_install.RELEASE_TAG!r} does not name version {version} of pyproject.toml"
    )


def test_fix_rewrites_only_the_install_cell_of_copies(tmp_path):
    copies = []
    for path in SOLUTIONS[:2]:
        shutil.copy(path, tmp_path / path.name)
        copies.append(tmp_path / path.name)
    before = [nbformat.read(path, as_version=4) for path in copies]
    fork = _install.install_cell_source("https://github.com/some-course/dlphys-fork", "v9.9.9")

    assert _install.fix(copies, fork) == copies
    assert _install.fix(copies, fork) == []  # a second run changes nothing
    assert not _install.check(copies, fork)
    assert len(_install.check(copies)) == len(copies)
    for old, path in zip(before, copies, strict=True):
        new = nbformat.read(path, as_version=4)
        i = _install.find_install_cell(new)
        assert new.cells[i].source == fork
        assert [c.get("id") for c in new.cells] == [c.get("id") for c in old.cells]
        assert [c.source for j, c in enumerate(new.cells) if j != i] == [
            c.source for j, c in enumerate(old.cells) if j != i
        ]


def test_cli_check_and_fix_on_copies(tmp_path):
    copy = tmp_path / SOLUTIONS[0].name
    shutil.copy(SOLUTIONS[0], copy)
    nb = nbformat.read(copy, as_version=4)
    cell = nb.cells[_install.find_install_cell(nb)]
    cell.source = cell.source.replace("dlphys/dlphys", "someone/else")
    nbformat.write(nb, copy)

    cli = [sys.executable, "-m", "dlphys.course.install"]
    stale = subprocess.run([*cli, "--check", str(tmp_path)], capture_output=True, text=True, check=False)
    assert stale.returncode == 1 and copy.name in stale.stderr
    subprocess.run([*cli, "--fix", str(tmp_path)], check=True, capture_output=True)
    assert subprocess.run([*cli, "--check", str(tmp_path)], check=False).returncode == 0


def test_fix_refuses_a_notebook_without_install_cell(tmp_path):
    path = tmp_path / "bare.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    with pytest.raises(ValueError, match="no install cell"):
        _install.fix([path])


# --- version and floors ------------------------------------------------------------------------------


def test_version_comes_from_the_package_metadata():
    assert dlphys.__version__ == metadata.version("dlphys") == PYPROJECT["project"]["version"]


def test_min_lock_pins_every_dependency_at_its_floor():
    """requirements-min.lock is the oldest allowed environment: each dependency exactly at its lower bound."""
    pins = _lock("requirements-min.lock")
    wrong = {
        name: (floor, pins.get(name))
        for name, floor in _floors().items()
        if name not in pins or Version(pins[name]) != Version(floor)
    }
    assert not wrong, f"package: (floor in pyproject.toml, pin in requirements-min.lock): {wrong}"


def test_tf_keras_follows_the_tensorflow_minor():
    """tf-keras X.Y needs TensorFlow X.Y: the floors and both locks must agree on the minor version."""

    def minor(version):
        return tuple(version.split(".")[:2])

    floors = _floors()
    assert minor(floors["tf-keras"]) == minor(floors["tensorflow"])
    for lock in ("requirements.lock", "requirements-min.lock"):
        pins = _lock(lock)
        assert minor(pins["tf-keras"]) == minor(pins["tensorflow"]), lock


def test_main_lock_lies_in_the_ranges():
    pins = _lock("requirements.lock")
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        pin = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin, prereleases=True), f"{requirement}: lock has {pin}"


@pytest.mark.skipif(
    os.environ.get("DLPHYS_CHECK_INSTALL") != "1",
    reason="needs the package index; `make test-min` runs it in the oldest environment (DLPHYS_CHECK_INSTALL=1)",
)
def test_install_cell_command_keeps_tensorflow_and_keras(tmp_path):
    """What the Colab cell does, from the checkout: pip resolves dlphys *with* its dependencies against the
    environment. Run as a dry run with pip's installation report, so the environment under test is not
    changed; the report lists every distribution pip would install or replace."""
    report = tmp_path / "report.json"
    before = {name: metadata.version(name) for name in KEPT}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), str(ROOT)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    would_install = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert "dlphys" in would_install, would_install
    touched = {name: (before[name], would_install[name]) for name in KEPT & would_install.keys()}
    assert not touched, f"the install cell would replace (installed, new): {touched}"
    assert {name: metadata.version(name) for name in KEPT} == before
    others = sorted(set(would_install) - {"dlphys"})
    assert not others, f"the install cell would also install or replace {others} in the oldest environment"


def test_min_lock_is_plain_pins():
    for line in (ROOT / "requirements-min.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line), line
