"""``python -m dlphys.datasets``: the command behind ``make data``."""

import pytest

from dlphys import datasets
from dlphys.datasets.__main__ import main


def test_every_registered_dataset_has_simulate_or_load_and_a_docstring():
    for name in datasets.NAMES:
        module = datasets.get(name)
        assert callable(module.load), name
        assert module.__doc__ and len(module.__doc__) > 200, f"{name}: document the model, units, references"


def test_generate_one_fast_dataset(data_dir, capsys, monkeypatch):
    monkeypatch.delenv("DLPHYS_FAST", raising=False)
    assert main(["generate", "checkerboard", "--fast"]) == 0
    out = capsys.readouterr().out
    assert "fast mode" in out and "checkerboard" in out and str(data_dir) in out


def test_unknown_dataset_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "nonsense"])
    assert "unknown dataset 'nonsense'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="choose one of"):
        datasets.get("nonsense")
