"""The judge of 13.3 against error bars whose quality is known: a calibrated synthetic estimator, and worse ones.

No trained network is needed: the "networks" below know the true energy of the judge's showers and add Gaussian
errors of a chosen width, so their rms, coverage and pulls are known in advance. The saved networks' outputs (what
the clean sandbox returns, (μ, ln σ)) are made from the same numbers as the predict functions'.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex13_3 as judge
from dlphys.datasets import airshower

PARAMS = {
    "N_TRAIN": 8000,
    "N_VAL": 2000,
    "N_FRESH": 5000,
    "N_OOD": 2000,
    "N_SCALING": [1000, 3000, 8000],
    "N_MEMBERS": 5,
    "E_RANGE": (18.5, 20.0),
    "OOD_RANGE": (20.0, 20.5),
    "E_BINS": [18.5, 18.75, 19.0, 19.25, 19.5, 19.75, 20.0],
    "DROPOUT": 0.1,
    "SEED": 133,
}
ALE, EPI = 0.055, 0.02  # dex: the width of the common error and of each member's own error


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("13_3_airshower_uncertainty")
    ctx = Context("13_3_airshower_uncertainty", 5, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _members(truth, seed, m=5, common=ALE, own=EPI):
    """(M, 2, n): members sharing an error of width `common` and each adding its own of width `own`."""
    rng = np.random.default_rng(seed)
    shared = truth + common * rng.standard_normal(len(truth))
    mus = shared + own * rng.standard_normal((m, len(truth)))
    return np.stack([mus, np.full_like(mus, common)], axis=1)


def _saved(out):
    """A predict function's (μ, σ) (2, n) as the saved network's output (n, 2) = (μ, ln σ)."""
    return np.column_stack([out[0], np.log(out[1])]).astype("float64")


def _passes(truth, seed, own=0.03):
    """The saved dropout_model's N_PASSES passes (N_PASSES * n, 2) = (μ, ln σ): a shared error of 0.06 dex, and one
    of width `own` per pass."""
    rng = np.random.default_rng(seed)
    shared = truth + 0.06 * rng.standard_normal(len(truth))
    mus = shared + own * rng.standard_normal((judge.N_PASSES, len(truth)))
    return np.stack([mus, np.full_like(mus, np.log(0.06))], axis=-1).reshape(-1, 2)


class _Results(dict):
    """What the grader hands a check: collected values, and what the saved models gave in the clean sandbox."""

    def __init__(self, values, models):
        super().__init__(values)
        self.models = models

    def model(self, name):
        return self.models[name]


def _dropout_archive(rates, class_name="AlwaysDropout"):
    """A saved dropout_model (.keras bytes, as collected) with dropout layers of ``rates`` of ``class_name`` written
    as Keras writes them (the notebook's own AlwaysDropout has no module), and the layers (name, class) the clean
    sandbox loads from it (AlwaysDropout stood in for by its AlwaysOnDropout). The check reads no weights."""
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "input"}, "name": "input"}]
    for k, rate in enumerate(rates):
        layers.append(
            {
                "module": "keras.layers" if class_name == "Dropout" else None,
                "class_name": class_name,
                "config": {"name": f"drop_{k}", "trainable": True, "rate": rate, "seed": None, "noise_shape": None},
                "registered_name": class_name,
                "name": f"drop_{k}",
            }
        )
    config = {"module": "keras", "class_name": "Functional", "config": {"name": "net", "layers": layers}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    loaded = "AlwaysOnDropout" if class_name == "AlwaysDropout" else class_name
    return np.frombuffer(out.getvalue(), dtype=np.uint8), [("input", "InputLayer")] + [
        (f"drop_{k}", loaded) for k in range(len(rates))
    ]


def _with_dropout_model(results, rates, class_name="AlwaysDropout"):
    """``results`` with a saved dropout_model whose dropout layers are ``rates`` of ``class_name``."""
    archive, layers = _dropout_archive(rates, class_name)
    return _Results({**results, "model:dropout_model": archive}, {"dropout_model": {"layers": layers, "outputs": {}}})


def _combine(members):
    return np.array([members[:, 0].mean(0), np.sqrt(np.mean(members[:, 1] ** 2, 0)), members[:, 0].std(0)])


def _dropout(truth, seed):
    rng = np.random.default_rng(seed)
    return np.array(
        [truth + 0.06 * rng.standard_normal(len(truth)), np.full(len(truth), 0.06), np.full(len(truth), 0.03)]
    )


def _results(ctx, single_width=0.06, reported_width=0.06, members_differ=True):
    kept, sent, p = ctx.kept, ctx.sent, ctx.params
    edges = np.asarray(p["E_BINS"], dtype=float)
    truth, nb, ood = kept["logE"], kept["nb_logE"], kept["ood_logE"]
    rng = np.random.default_rng(11)

    def network(y):  # errors of a width that varies from shower to shower, reported × reported_width/single_width
        width = single_width * np.exp(0.3 * rng.standard_normal(len(y)))
        return np.array([y + width * rng.standard_normal(len(y)), width * reported_width / single_width])

    single, single_nb = network(truth), network(nb)
    own = EPI if members_differ else 0.0
    members = _members(truth, 1, own=own)
    ensemble_nb, ensemble_ood = _combine(_members(nb, 2, own=own)), _combine(_members(ood - 0.1, 3, own=own))
    dropout, dropout_nb, dropout_ood = _dropout(truth, 4), _dropout(nb, 5), _dropout(ood - 0.05, 6)
    widths = dict(zip(p["N_SCALING"], (0.1, 0.08, 0.06), strict=True))
    scaling_nb = {
        str(n): np.array([nb + w * rng.standard_normal(len(nb)), np.full(len(nb), w)]) for n, w in widths.items()
    }
    scaling_fresh = {
        str(n): np.array([truth + w * rng.standard_normal(len(truth)), np.full(len(truth), w)])
        for n, w in widths.items()
    }

    def ood_entry(out, fresh_out):
        return {
            "bias": np.mean(out[0] - ood),
            "coverage68": np.mean(np.abs(out[0] - ood) < np.hypot(out[1], out[2])),
            "epistemic_ratio": np.median(out[2]) / max(np.median(fresh_out[2]), 1e-12),
        }

    z = (sent["y_true"] - sent["y_pred"][:, 0]) / np.exp(sent["y_pred"][:, 1])
    values = {
        "features_fresh": kept["features_fresh"],
        "x_train_shape": np.array([p["N_TRAIN"], 162]),
        "x_val": kept["x_val"],
        "y_val": kept["y_val"],
        "nll": np.mean(0.5 * z**2 + sent["y_pred"][:, 1] + 0.5 * np.log(2 * np.pi)),
        "single_fresh": single,
        "net_fresh": _saved(single),
        "n_members": len(members),
        **{f"member_fresh_{k}": _saved(member) for k, member in enumerate(members)},
        "ensemble_fresh": _combine(members),
        "dropout_fresh": dropout,
        "dropout_pair": dropout[:, :2],
        "evaluate_drawn": judge.evaluate(sent["mu"], sent["sigma"], sent["log_e"], edges),
        "evaluation": {
            "single": judge.evaluate(single_nb[0], single_nb[1], nb, edges),
            "ensemble": judge.evaluate(ensemble_nb[0], np.hypot(*ensemble_nb[1:]), nb, edges),
            "dropout": judge.evaluate(dropout_nb[0], np.hypot(*dropout_nb[1:]), nb, edges),
        },
        "single_nb": single_nb,
        "ensemble_nb": ensemble_nb,
        "dropout_nb": dropout_nb,
        "scaling": {
            n: {"rms": np.sqrt(np.mean((v[0] - nb) ** 2)), "sigma_median": np.median(v[1])}
            for n, v in scaling_nb.items()
        },
        "scaling_nb": scaling_nb,
        "dropout_passes": _passes(truth[: judge.N_DROPOUT], 12),
        "scaling_smallest_fresh": _saved(scaling_fresh[str(min(widths))]),
        "scaling_largest_fresh": _saved(scaling_fresh[str(max(widths))]),
        "ood_figures": {
            "ensemble": ood_entry(ensemble_ood, ensemble_nb),
            "dropout": ood_entry(dropout_ood, dropout_nb),
        },
        "ensemble_ood": ensemble_ood,
        "dropout_ood": dropout_ood,
    }
    return _with_dropout_model(values, [p["DROPOUT"], p["DROPOUT"]])  # the page's network: two AlwaysDropout


def test_calibrated_estimators_earn_every_point(prepared):
    exercise, ctx = prepared
    assert sum(exercise.points(_results(ctx), ctx).values()) == 10


def test_the_regenerated_showers_are_the_notebooks(prepared):
    """The judge rebuilds the notebook's fresh showers as its given cell does (seed SEED + 1)."""
    _, ctx = prepared
    again = airshower.simulate(PARAMS["N_FRESH"], seed=PARAMS["SEED"] + 1, log_energy_range=PARAMS["E_RANGE"])
    assert np.array_equal(ctx.kept["nb_logE"], again["logE"])
    assert ctx.kept["ood_logE"].min() >= 20.0 and ctx.sent["fresh"]["signal"].shape == (judge.N_GRADER, 9, 9)
    assert "logE" not in ctx.sent["fresh"] and "logE" not in ctx.sent["nb_fresh"]  # the student never gets the truth


def test_a_network_that_ignores_the_footprint_loses_task_2(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["single_fresh"] = np.array([np.full(judge.N_GRADER, 19.25), np.full(judge.N_GRADER, 0.43)])
    results["net_fresh"] = _saved(results["single_fresh"])
    per_task = exercise.points(results, ctx)
    assert per_task["2"] == 0.5 and per_task["1"] == 1  # gaussian_nll still counts


@pytest.mark.parametrize("reported", [0.03, 0.12])
def test_an_error_bar_a_factor_two_off_loses_task_2(prepared, reported):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx, reported_width=reported), ctx)["2"] == 0.5


def test_identical_members_lose_task_3(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx, members_differ=False), ctx)["3"] <= 1


def test_an_ensemble_not_combined_by_the_recipe_loses_its_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    mu, ale, epi = results["ensemble_fresh"]
    results["ensemble_fresh"] = np.array([mu, ale, epi**2])  # variance instead of standard deviation
    assert exercise.points(results, ctx)["3"] == 1


def test_dropout_off_or_batchnorm_in_training_mode_loses_task_4(prepared):
    exercise, ctx = prepared
    off = _results(ctx)
    off["dropout_fresh"][2] = 0.0  # dropout switched off at prediction: no spread
    assert exercise.points(off, ctx)["4"] == 0
    batch = _results(ctx)
    batch["dropout_pair"] = batch["dropout_pair"] + np.array([[0.3], [0.0], [0.0]])  # two showers alone go astray
    assert exercise.points(batch, ctx)["4"] == 0


def test_reported_numbers_that_do_not_describe_the_networks_lose_their_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["evaluation"]["ensemble"]["coverage68"] = 0.683
    results["scaling"]["1000"]["rms"] = 0.2
    results["ood_figures"]["ensemble"]["coverage68"] = 0.68
    per_task = exercise.points(results, ctx)
    assert per_task["5"] == 1 and per_task["6"] == 0.5 and per_task["7"] == 0


def test_an_evaluate_with_the_wrong_coverage_loses_its_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    s = ctx.sent
    wrong = judge.evaluate(s["mu"], 2 * s["sigma"], s["log_e"], np.asarray(PARAMS["E_BINS"], dtype=float))
    results["evaluate_drawn"] = {**results["evaluate_drawn"], "coverage68": wrong["coverage68"]}
    assert exercise.points(results, ctx)["5"] == 1


def test_networks_that_do_not_improve_with_data_lose_half_of_task_6(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["scaling_largest_fresh"] = results["scaling_smallest_fresh"]
    assert exercise.points(results, ctx)["6"] == 0.5


def test_an_ensemble_of_networks_that_ignore_the_footprint_loses_its_calibration_point(prepared):
    """Constant members with the spread of the energies as σ cover about 0.57 and miss the rms bound by far."""
    exercise, ctx = prepared
    results = _results(ctx)
    n = judge.N_GRADER
    members = np.stack([np.stack([np.full(n, 19.25 + 0.001 * k), np.full(n, 0.43)]) for k in range(5)])
    for k, member in enumerate(members):  # the saved members, as the judge runs them
        results[f"member_fresh_{k}"] = _saved(member)
    results["ensemble_fresh"] = _combine(members)
    verdicts = {v.name: v.points for v in exercise.judge(results, ctx)}
    assert verdicts["ensemble_combines_its_members_by_the_recipe"] == 1  # combined by the recipe,
    assert verdicts["ensemble_is_calibrated_on_fresh_showers"] == 0  # but not a calibrated energy


def test_predict_functions_that_are_not_the_networks_earn_nothing_for_them(prepared):
    """predict_nll and predict_ensemble that return a good estimate while the saved networks say something else
    (an untrained model, a predict that reads the answer elsewhere) lose the points of the networks."""
    exercise, ctx = prepared
    results = _results(ctx)
    n = judge.N_GRADER
    untrained = np.column_stack([np.full(n, 19.25), np.full(n, np.log(0.43))])
    results["net_fresh"] = untrained
    for k in range(judge.N_MEMBERS):
        results[f"member_fresh_{k}"] = untrained + np.array([0.01 * k, 0.0])
    per_task = exercise.points(results, ctx)
    assert per_task["2"] == 0.5 and per_task["3"] == 0  # gaussian_nll only
    assert "members_fresh" not in exercise.collect and exercise.models["member_4"] == "ensemble[4]"
    assert exercise.runs["net_fresh"][1](None, ctx) is ctx.kept["features_fresh"]


def test_mc_dropout_is_judged_on_the_saved_dropout_model_with_the_sandboxs_own_dropout(prepared):
    """The figures of (4) come from the judge's passes of the saved dropout_model (the student's AlwaysDropout run as
    the sandbox's always-on Dropout); predict_dropout only shows that the student's class keeps dropout on."""
    exercise, ctx = prepared
    assert exercise.stand_ins == {"AlwaysDropout": "AlwaysOnDropout"}
    assert exercise.runs["dropout_passes"][1](None, ctx).shape == (judge.N_PASSES * judge.N_DROPOUT, 162)
    results = _results(ctx)
    results["dropout_passes"] = _passes(ctx.kept["logE"][: judge.N_DROPOUT], 12, own=0.0)  # dropout off when saved
    assert exercise.points(results, ctx)["4"] == 0
    results = _results(ctx)
    truth = ctx.kept["logE"][: judge.N_DROPOUT]
    results["dropout_passes"] = _passes(truth + 0.3, 12)  # predict_dropout is fine, the saved network is not
    assert exercise.points(results, ctx)["4"] == 0


@pytest.mark.parametrize(
    ("rates", "class_name", "expected"),
    [
        ([0.5, 0.5], "AlwaysDropout", "DROPOUT = 0.1; yours have [0.5, 0.5]"),  # another rate than the page's
        ([0.1, 0.3], "AlwaysDropout", "yours have [0.1, 0.3]"),
        ([], "AlwaysDropout", "finds none"),  # no dropout at all: the passes' spread comes from elsewhere
        ([0.1, 0.1], "Dropout", "finds none"),  # Keras's own Dropout: off at prediction
    ],
)
def test_a_dropout_model_without_the_pages_always_dropout_loses_task_4(prepared, rates, class_name, expected):
    """Passes that look right are not enough: the saved dropout_model must hold AlwaysDropout(DROPOUT)."""
    exercise, ctx = prepared
    results = _with_dropout_model(_results(ctx), rates, class_name)
    (verdict,) = [v for v in exercise.judge(results, ctx) if v.task == "4"]
    assert verdict.points == 0 and expected in verdict.message
    assert sum(exercise.points(results, ctx).values()) == 9


def test_the_pages_dropout_network_as_keras_saves_it_has_the_pages_rate(tmp_path):
    """The rates come from the configuration as the judge audits it: the page's network (untrained), saved by Keras."""
    keras = pytest.importorskip("keras")

    class AlwaysDropout(keras.layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=True)

    inputs = keras.Input((162,))
    h = AlwaysDropout(PARAMS["DROPOUT"])(keras.layers.BatchNormalization()(keras.layers.Dense(8)(inputs)))
    h = AlwaysDropout(PARAMS["DROPOUT"])(keras.layers.Dense(4)(h))
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.save(tmp_path / "dropout_model.keras")
    data = np.frombuffer((tmp_path / "dropout_model.keras").read_bytes(), dtype=np.uint8)
    # the layers as the clean sandbox loads them: the student's class stood in for by the sandbox's own
    layers = [(x.name, "AlwaysOnDropout" if isinstance(x, AlwaysDropout) else type(x).__name__) for x in model.layers]
    results = _Results({"model:dropout_model": data}, {"dropout_model": {"layers": layers, "outputs": {}}})
    assert judge._dropout_rates(results) == [PARAMS["DROPOUT"], PARAMS["DROPOUT"]]
