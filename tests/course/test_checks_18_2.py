"""The judge of 18.2's training settings: the page's learning-rate schedule and the number of updates."""

from __future__ import annotations

import pytest

from dlphys.course.checks import Context
from dlphys.course.checks import ex18_2 as judge

PARAMS = {"N_TRAIN": 16_000, "BATCH_SIZE": 64, "CRITIC_STEPS": 5, "EPOCHS": 5, "LEARNING_RATE": 2e-4, "LR_FLOOR": 0.05}
STEPS = PARAMS["N_TRAIN"] // PARAMS["BATCH_SIZE"]
UPDATES = PARAMS["EPOCHS"] * STEPS // PARAMS["CRITIC_STEPS"]


def _results(**schedule):
    """What a notebook trained as the page says returns, with the schedule's entries replaced by ``schedule``."""
    return {
        "g_optimizer": {"adam": True, "beta_1": 0.5, "beta_2": 0.9, "iterations": UPDATES},
        "g_schedule": {"kind": "CosineDecay", "initial": 2e-4, "decay_steps": float(UPDATES), "alpha": 0.05} | schedule,
        "critic_losses": [0.1] * (PARAMS["EPOCHS"] * STEPS),
    }


def _verdict(results):
    ctx = Context("18_2_wgan_airshowers", 1, PARAMS, True)
    try:
        judge.generator_optimizer_and_critic_losses(results, ctx)
    except AssertionError as error:
        return str(error)
    return "passed"


def test_the_page_settings_pass():
    assert _verdict(_results()) == "passed"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"kind": "float"}, "CosineDecay"),  # a constant learning rate, the old page's setting
        ({"initial": 1e-3}, "start at LEARNING_RATE"),
        ({"alpha": 0.0}, "start at LEARNING_RATE"),
        ({"decay_steps": float(PARAMS["EPOCHS"] * STEPS)}, "decay over the generator's updates"),  # critic steps
    ],
)
def test_another_schedule_loses_the_point(schedule, message):
    results = _results(**schedule)
    if schedule.get("kind") == "float":
        results["g_schedule"] = {"kind": "float"}
    assert message in _verdict(results)
