"""The judge of 11.1: its copy of the page's hybrid input, and its check of the heads against the truth.

No trained network is needed: the "model outputs" below are the truth of the judge's test events, with and
without errors of a known size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlphys.course.checks import Context
from dlphys.course.checks import ex11_1 as judge
from dlphys.datasets import airshower
from dlphys.reco import airshower as reco

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "11_1_airshower_multitask.ipynb"
SETTINGS = {"log_energy_range": (19.5, 20.5), "s1000_fluctuation": 0.05}
PARAMS = {"N_TEST": 300, "SEED": 11}


def _page_preprocess():
    """The page's given `preprocess`, executed from the solution notebook's cell that defines it."""
    cells = json.loads(SOLUTION.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "def preprocess(" in "".join(c["source"]))
    namespace: dict = {}
    exec(  # the given cell up to where it simulates the exercise's data
        "import numpy as np\nfrom dlphys import hexgrid\nfrom dlphys.datasets import airshower\n"
        "from dlphys.reco import airshower as reco\n" + source.split("train_events = ")[0],
        namespace,
    )
    return namespace["preprocess"]


@pytest.fixture(scope="module")
def events():
    return airshower.simulate(PARAMS["N_TEST"], seed=PARAMS["SEED"] + 1, **SETTINGS)


def test_the_judge_builds_the_pages_input(events):
    mine, centre = judge._preprocess(events)
    page, page_centre = _page_preprocess()(events)
    assert set(mine) == set(page) == {"stations", "plane"}
    for key in mine:
        assert np.allclose(mine[key], page[key], atol=1e-6), key
    assert np.array_equal(centre, page_centre)


def test_the_plane_input_is_the_plane_front_fit_and_the_residuals_are_the_curvature(events):
    x, _ = judge._preprocess(events)
    angle = np.quantile(reco.opening_angle(events["axis"], x["plane"]), 0.68)
    assert 0.5 < angle < 1.2  # the plane fit without a core: about 0.8°
    # What the plane leaves is the front's curvature: per event, the residuals [µs] of the window's stations
    # regressed on the true delay r²/(2Rc) [µs] have a slope of 1 (the jitter spreads it, the median stays).
    plane, residual = x["plane"], x["stations"][..., 1]
    fired = x["stations"][..., 2] > 0
    lead = np.einsum("rcj,nj->nrc", airshower.station_positions(), plane[:, :2]) / airshower.C
    full = np.where(events["triggered"], events["time"] + lead, 0.0)  # the residuals on the whole array [s]
    r = airshower.shower_plane_distance(
        airshower.station_positions()[None], events["core"][:, None, None, :], events["axis"][:, None, None, :]
    )
    slopes = []
    for trig, y, delay in zip(events["triggered"], full, airshower.front_delay(r), strict=True):
        d, y = delay[trig] - delay[trig].mean(), y[trig] - y[trig].mean()
        slopes.append((d @ y) / (d @ d))
    assert 0.9 < np.median(slopes) < 1.1
    # the window holds these residuals in µs: the brightest station's neighbours lag it by about 0.1-0.5 µs
    both = fired[:, 2, 3] & fired[:, 3, 3]
    lag = np.median(residual[both, 2, 3] - residual[both, 3, 3])
    assert np.all(np.abs(residual[fired]) < 20) and 0.05 < lag < 1


CHECK_SEED = 424242  # the judge's fresh "check" events in these tests


def _ctx(fast=True, **params):
    ctx = Context("11_1_airshower_multitask", 5, {**PARAMS, **params}, fast)
    ctx.sent = {"n_test": PARAMS["N_TEST"], "test_seed": PARAMS["SEED"] + 1}
    ctx.kept = {"check_seed": CHECK_SEED, "fresh_seed": CHECK_SEED + 1}
    return ctx


class _Results(dict):
    """What the grader hands a check: collected values, and the saved model's outputs from the clean sandbox."""

    def __init__(self, values, outputs):
        super().__init__(values)
        self.models = {"model": {"layers": [("axis", "UnitNormalization")], "outputs": outputs}}

    def model(self, name):
        return self.models[name]


def _heads(events, error, seed):
    """Network outputs at the truth of ``events``, off by ``error`` (in units of about the targets)."""
    _, centre = judge._preprocess(events)
    rng = np.random.default_rng(seed)
    axis = events["axis"] + error * 0.01 * rng.standard_normal(events["axis"].shape)
    return {
        "axis": axis / np.linalg.norm(axis, axis=1, keepdims=True),
        "core": events["core"] / 1000.0 - centre + error * 0.01 * rng.standard_normal((len(centre), 2)),
        "logE": events["logE"] + error * 0.02 * rng.standard_normal(len(centre)),
    }


def _results(events, x, error=0.0, seed=0, check_error=None):
    """A network off by ``error`` on the notebook's test events and by ``check_error`` (default: the same) on the
    judge's fresh check events."""
    check = airshower.simulate(PARAMS["N_TEST"], seed=CHECK_SEED, **SETTINGS)
    outputs = {
        "test": _heads(events, error, seed),
        "check": _heads(check, error if check_error is None else check_error, seed),
    }
    return _Results({"SIM_SETTINGS": SETTINGS, "x_test": x}, outputs)


@pytest.mark.parametrize("fast", [True, False])
def test_heads_at_the_truth_pass_and_far_off_heads_fail(events, fast):
    x, _ = judge._preprocess(events)
    judge.every_head_near_its_target_on_fresh_events(_results(events, x), _ctx(fast))
    with pytest.raises(AssertionError, match="within a factor"):
        judge.every_head_near_its_target_on_fresh_events(_results(events, x, error=20.0), _ctx(fast))


def test_a_network_that_stores_the_test_events_truth_fails_on_fresh_events(events):
    """The red team's second round: a network of Keras layers that holds the truth of the notebook's (fixed) test
    events in its weights is perfect there and knows nothing of fresh events."""
    x, _ = judge._preprocess(events)
    r = _results(events, x, error=0.0, check_error=60.0)
    with pytest.raises(AssertionError, match="fresh events"):
        judge.every_head_near_its_target_on_fresh_events(r, _ctx())
    with pytest.raises(AssertionError, match="fresh events"):
        judge.resolutions_within_the_bounds(r, _ctx())


def test_an_input_without_the_plane_fit_is_not_the_pages(events):
    x, _ = judge._preprocess(events)
    with pytest.raises(AssertionError, match="as given"):
        judge.every_head_near_its_target_on_fresh_events(_results(events, {"stations": x["stations"]}), _ctx())
    shifted = {"stations": x["stations"], "plane": np.tile([0.0, 0.0, 1.0], (len(x["plane"]), 1))}
    with pytest.raises(AssertionError, match="plane"):
        judge.every_head_near_its_target_on_fresh_events(_results(events, shifted), _ctx())


def _with_predict(r, events, pred):
    figures = judge._figures(judge._errors(events, pred))
    r.update(
        test={"signal": events["signal"], "pred": pred},
        err_network=judge._errors(events, pred),
        angular_resolution=figures["angle"],
        core_resolution=figures["core"],
        energy_resolution=figures["energy"],
    )
    return r


def test_a_predict_that_is_not_the_network_loses_its_point(events):
    """A `predict` that returns the classical reconstruction (better than the network) is not the network."""
    x, _ = judge._preprocess(events)
    r = _results(events, x, error=1.0)
    judge.errors_and_figures_of_predict_on_the_test_events(_with_predict(r, events, judge._network(r, events)), _ctx())
    classical = reco.reconstruct(events, progress=False)
    r = _with_predict(r, events, {k: classical[k] for k in ("axis", "core", "logE")})
    with pytest.raises(AssertionError, match="trained model's output"):
        judge.errors_and_figures_of_predict_on_the_test_events(r, _ctx())


def test_a_predict_that_knows_the_truth_is_not_the_network(events):
    """The red team's first round: a `predict` that looks the events' truth up (it wrapped `simulate`) scores
    better than any network, and is still not the saved network."""
    x, _ = judge._preprocess(events)
    r = _with_predict(_results(events, x, error=3.0), events, {k: events[k] for k in ("axis", "core", "logE")})
    with pytest.raises(AssertionError, match="trained model's output"):
        judge.errors_and_figures_of_predict_on_the_test_events(r, _ctx())


def _history(val_loss, epochs):
    history = {f"{p}{k}_loss": [1.0] * epochs for p in ("", "val_") for k in judge.HEADS}
    return history | {"loss": [10 * val_loss] * epochs, "val_loss": [val_loss] * epochs}


def test_a_history_that_is_not_the_networks_training_loses_its_point(events):
    ctx = _ctx(EPOCHS=3)
    x, _ = judge._preprocess(events)
    mse = judge._reference_mse()
    r = _results(events, x, error=1.0)
    r.update(mse_target=mse, loss_weights={k: 1.0 / v for k, v in mse.items()})
    check = airshower.simulate(PARAMS["N_TEST"], seed=CHECK_SEED, **SETTINGS)
    out, truth = r.model("model")["outputs"]["check"], judge._truth(check)
    loss = sum(float(np.mean((out[k] - truth[k]) ** 2)) / mse[k] for k in judge.HEADS)
    r["history"] = _history(loss, 3)
    judge.training_history_of_each_head(r, ctx)
    r["history"] = _history(loss / 20, 3)  # made up: a loss the saved network does not have
    with pytest.raises(AssertionError, match="history should be the training of `model`"):
        judge.training_history_of_each_head(r, ctx)


def test_the_fresh_events_never_enter_the_sandbox_and_the_network_gets_the_pages_input():
    """The red team's first cheat read the truth of events simulated in the student's kernel: now only the judge
    simulates the fresh events, and the saved network gets the judge's own input of them."""
    ctx = Context("11_1_airshower_multitask", 5, {**PARAMS, "N_FLOOR": 100}, True)
    judge.exercise.prepare(ctx)
    assert {"fresh_seed", "check_seed"} <= set(ctx.kept) and not any(
        "fresh" in key or "check" in key for key in ctx.sent
    )
    inputs = judge.network_inputs(_Results({"SIM_SETTINGS": SETTINGS}, {}), ctx)
    fresh = airshower.simulate(judge.N_FRESH, seed=ctx.kept["fresh_seed"], **SETTINGS)
    mine, _ = judge._page_input(fresh)
    assert set(inputs["model"]) == {"test", "fresh", "check"}
    for key in mine:
        assert np.array_equal(inputs["model"]["fresh"][key], mine[key])
    with pytest.raises(AssertionError, match="SIM_SETTINGS"):
        judge.network_inputs(_Results({"SIM_SETTINGS": {"seed": 1}}, {}), ctx)


def test_the_floor_check_allows_the_fits_stopping_noise_but_not_another_threshold():
    ctx = _ctx(N_FLOOR=300)
    ctx.sent = {"floor_events": airshower.simulate(40, seed=77, threshold=2.6), "threshold": 2.6}
    honest = judge._floor_errors(ctx.sent["floor_events"], {"threshold": 2.6})
    noisy = {k: v.copy() for k, v in honest.items()}
    noisy["core"][5] += 0.09  # the sandbox's fit once stopped 9 cm away from the judge's
    noisy["core"][10] -= 35.0  # and once in the likelihood's other minimum
    noisy["energy"][10] += 0.03
    judge.floors_and_the_choice_of_data(_Results({"SIM_SETTINGS": SETTINGS, "floor_check": noisy}, {}), ctx)
    wrong = judge._floor_errors(ctx.sent["floor_events"], {"threshold": 3.6})  # the next integer number of particles
    with pytest.raises(AssertionError, match="from the estimators given the truth"):
        judge.floors_and_the_choice_of_data(_Results({"SIM_SETTINGS": SETTINGS, "floor_check": wrong}, {}), ctx)
