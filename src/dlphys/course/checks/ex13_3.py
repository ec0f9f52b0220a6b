"""Trusted checks of Exercise 13.3 — air-shower energies with error bars (10 points).

The judge simulates its own showers. It regenerates the notebook's validation, fresh and out-of-range showers from
the given cell (``SEED``, ``N_TRAIN``, ``N_VAL``, ``N_FRESH``, ``N_OOD``, ``E_RANGE``, ``OOD_RANGE``), and draws
``N_GRADER`` fresh showers in the training range with the grader's seed. The student's functions get only what a
detector records (``signal``, ``time``, ``triggered``), never the truth. The judge

- compares ``features`` on its fresh showers and ``x_val``, ``y_val`` with its own ``airshower.network_input``;
- calls ``gaussian_nll`` on (y, μ, ln σ) it draws, against the formula of the page;
- runs the saved ``nll_model``, every member of ``ensemble``, the smallest and largest of ``scaling_nets`` and
  ``dropout_model`` (in a clean sandbox, never the student's code; the student's ``AlwaysDropout`` is run as the
  sandbox's own always-on ``Dropout`` of the same rate, ``N_PASSES`` passes over ``N_DROPOUT`` showers) on its own
  features of its fresh showers, combines the members and the passes by the page's recipe itself, calls
  ``predict_dropout`` to see that the student's class keeps dropout on and that a shower's result does not depend
  on its batch, and applies the page's criteria to those outputs (fast mode, in which grading runs: single
  network rms below 0.11 dex and pull std within [0.7, 1.5]; ensemble 68 % coverage within 0.1 of 0.683 and rms
  below that bound and at most 0.002 dex above the single network's; MC dropout: σ_epi > 0, the same μ for two
  showers alone as among the others, 68 % coverage within (0.5, 0.9), rms at most 0.02 dex above the bound and the
  single network's; full mode: 0.075, [0.85, 1.25], 0.06, (0.6, 0.88), 0.008); ``dropout_model`` must hold the
  page's ``AlwaysDropout`` at the page's rate ``DROPOUT`` (the judge reads the rate from the configuration it
  audited and ran, and the class from the layers the clean sandbox loaded);
- requires ``predict_nll`` and ``predict_ensemble`` on its fresh showers to be those networks' outputs, converted and
  combined as the page says (a predict function that is not the trained network earns nothing);
- calls ``evaluate`` on values it draws against its own, and recomputes ``evaluation``, ``scaling`` and
  ``ood_figures`` from the student's predict functions on its copies of the notebook's showers (MC dropout, which
  is random, within the statistical tolerance of its passes);
- checks the criterion of (6) on its fresh showers: the rms falls by more than 0.005 dex from the smallest to the
  largest training set.
"""

import io
import json
import warnings
import zipfile

import numpy as np
from scipy import stats

from dlphys.course import models
from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import airshower

N_GRADER = 3000  # fresh showers of the grader: a 68 % coverage to ±0.009, an rms to ±1.3 %
TIME_UNIT = 1e-5
LEVELS = np.linspace(0.05, 0.95, 19)
RECORDED = ("signal", "time", "triggered")
RMS_BOUND = {True: 0.11, False: 0.075}  # dex: the page's bound on the rms of μ (fast mode, full mode)

N_MEMBERS = 5  # the page's deep ensemble (a given constant)
N_PASSES = 20  # the judge's Monte Carlo dropout passes (the page's PASSES in fast mode)
N_DROPOUT = 1500  # fresh showers for them: their 68 % coverage to ±0.012


def _on_features(r, ctx):
    return ctx.kept["features_fresh"]


def _passes(r, ctx):
    return np.tile(ctx.kept["features_fresh"][:N_DROPOUT], (N_PASSES, 1))


exercise = Exercise(
    "13_3_airshower_uncertainty",
    # saved, and run by the judge in a clean sandbox on its own features of its fresh showers
    stand_ins={"AlwaysDropout": "AlwaysOnDropout"},
    models={
        "dropout_model": "dropout_model",
        "nll_model": "nll_model",
        **{f"member_{k}": f"ensemble[{k}]" for k in range(N_MEMBERS)},
        "scaling_smallest": "scaling_nets[min(scaling_nets)]",
        "scaling_largest": "scaling_nets[max(scaling_nets)]",
    },
    runs={
        "net_fresh": ("nll_model", _on_features),
        **{f"member_fresh_{k}": (f"member_{k}", _on_features) for k in range(N_MEMBERS)},
        "scaling_smallest_fresh": ("scaling_smallest", _on_features),
        "scaling_largest_fresh": ("scaling_largest", _on_features),
        "dropout_passes": ("dropout_model", _passes),
    },
    collect={
        "features_fresh": "features(inputs['fresh'])",
        "x_train_shape": "x_train.shape",
        "x_val": "x_val",
        "y_val": "y_val",
        "nll": "keras.ops.convert_to_numpy(gaussian_nll(inputs['y_true'], inputs['y_pred']))",
        "single_fresh": "predict_nll(inputs['fresh'])",
        "n_members": "len(ensemble)",
        "ensemble_fresh": "predict_ensemble(inputs['fresh'])",
        "dropout_fresh": "predict_dropout(inputs['fresh'])",
        "dropout_pair": "predict_dropout(inputs['pair'])",
        "evaluate_drawn": "evaluate(inputs['mu'], inputs['sigma'], inputs['log_e'])",
        "evaluation": "evaluation",
        "single_nb": "predict_nll(inputs['nb_fresh'])",
        "ensemble_nb": "predict_ensemble(inputs['nb_fresh'])",
        "dropout_nb": "predict_dropout(inputs['nb_fresh'])",
        "scaling": "{str(n): v for n, v in scaling.items()}",
        "scaling_nb": "{str(n): predict_nll(inputs['nb_fresh'], net) for n, net in scaling_nets.items()}",
        "ood_figures": "ood_figures",
        "ensemble_ood": "predict_ensemble(inputs['nb_ood'])",
        "dropout_ood": "predict_dropout(inputs['nb_ood'])",
    },
)


def _flat(events) -> np.ndarray:
    x = airshower.network_input(events, time_unit=TIME_UNIT)
    return x.reshape(len(x), -1)


def _recorded(events) -> dict:
    return {key: events[key] for key in RECORDED}


def notebook_showers(p) -> dict:
    """The notebook's validation, fresh and out-of-range showers, made as its given cell makes them."""
    showers = airshower.simulate(p["N_TRAIN"] + p["N_VAL"], seed=p["SEED"], log_energy_range=tuple(p["E_RANGE"]))
    return {
        "val": {key: value[p["N_TRAIN"] :] for key, value in showers.items()},
        "fresh": airshower.simulate(p["N_FRESH"], seed=p["SEED"] + 1, log_energy_range=tuple(p["E_RANGE"])),
        "ood": airshower.simulate(p["N_OOD"], seed=p["SEED"] + 2, log_energy_range=tuple(p["OOD_RANGE"])),
    }


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    new = airshower.simulate(N_GRADER, seed=int(rng.integers(2**31)), log_energy_range=tuple(p["E_RANGE"]))
    nb = notebook_showers(p)
    log_e = rng.uniform(18.5, 20.0, 2000)
    sigma = rng.uniform(0.03, 0.15, 2000)
    sent = {
        "fresh": _recorded(new),
        "pair": {key: new[key][:2] for key in RECORDED},
        "nb_fresh": _recorded(nb["fresh"]),
        "nb_ood": _recorded(nb["ood"]),
        "y_true": rng.uniform(18.5, 20.0, 7).astype("float32"),
        "y_pred": np.column_stack([rng.uniform(18.5, 20.0, 7), rng.uniform(-4.0, 0.0, 7)]).astype("float32"),
        "mu": log_e + sigma * rng.standard_t(5, 2000),
        "sigma": sigma,
        "log_e": log_e,
    }
    kept = {
        "features_fresh": _flat(new).astype("float32"),
        "logE": new["logE"],
        "x_val": _flat(nb["val"]),
        "y_val": nb["val"]["logE"],
        "nb_logE": nb["fresh"]["logE"],
        "ood_logE": nb["ood"]["logE"],
    }
    return sent, kept


# ------------------------------------------------------------------------------------------- the judge's own
def evaluate(mu, sigma, log_e, edges) -> dict:
    """The figures of (5): rms, pull std, coverages, calibration, pull std per σ quintile and per energy bin.

    An empty bin (a σ that is the same for every shower) gives NaN there, as NumPy gives it to the notebook.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _evaluate(mu, sigma, log_e, edges)


def _evaluate(mu, sigma, log_e, edges) -> dict:
    pull = (mu - log_e) / sigma
    quintile = np.digitize(sigma, np.quantile(sigma, [0.2, 0.4, 0.6, 0.8]))
    energy_bin = np.clip(np.digitize(log_e, edges[1:-1]), 0, len(edges) - 2)
    return {
        "rms": float(np.sqrt(np.mean((mu - log_e) ** 2))),
        "pull_std": float(pull.std()),
        "coverage68": float(np.mean(np.abs(pull) < 1.0)),
        "coverage95": float(np.mean(np.abs(pull) < 1.96)),
        "calibration": np.array([np.mean(np.abs(pull) < stats.norm.ppf(0.5 + q / 2)) for q in LEVELS]),
        "pull_std_by_sigma": np.array([pull[quintile == k].std() for k in range(5)]),
        "pull_std_by_energy": np.array([pull[energy_bin == k].std() for k in range(len(edges) - 1)]),
    }


def _arrays(value, k: int, n: int, name: str) -> np.ndarray:
    """A tuple of ``k`` arrays (n,) that came back as one array (k, n)."""
    out = array(value, name=name)
    assert out.shape == (k, n), f"expected {name} to return {k} arrays of shape ({n},), got shape {out.shape}"
    return out


def _single(value, n, name):
    mu, sigma = _arrays(value, 2, n, name)
    assert np.all(sigma > 0), f"expected a positive sigma from {name}"
    return mu, sigma


def _triple(value, n, name):
    mu, ale, epi = _arrays(value, 3, n, name)
    assert np.all(ale > 0) and np.all(epi >= 0), f"expected sigma_ale > 0 and sigma_epi >= 0 from {name}"
    return mu, ale, epi


def _network(value, n, name) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ) of a saved network's output (n, 2) = (μ, ln σ), the page's contract."""
    out = array(value, (n, 2), f"the output of {name} on fresh showers")
    assert np.all(np.isfinite(out)), f"expected finite (μ, ln σ) from {name}"
    return out[:, 0], np.exp(out[:, 1])


def _members(r, n) -> np.ndarray:
    """(N_MEMBERS, 2, n): the saved members' (μ, σ) on the fresh showers."""
    return np.stack([np.stack(_network(r[f"member_fresh_{k}"], n, f"ensemble[{k}]")) for k in range(N_MEMBERS)])


def _combined(members) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The page's recipe: (mean μ, rms σ, std of μ) over the members."""
    return members[:, 0].mean(0), np.sqrt(np.mean(members[:, 1] ** 2, 0)), members[:, 0].std(0)


def _dropout(r) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(μ, σ_ale, σ_epi) of the saved dropout_model's N_PASSES passes over the first N_DROPOUT fresh showers."""
    out = array(r["dropout_passes"], (N_PASSES * N_DROPOUT, 2), "the passes of dropout_model on fresh showers")
    passes = out.reshape(N_PASSES, N_DROPOUT, 2)
    mu, sigma = passes[..., 0], np.exp(passes[..., 1])
    return mu.mean(0), np.sqrt(np.mean(sigma**2, 0)), mu.std(0)


def _stand_in_rates(node) -> list:
    """The rates of the sandbox's always-on dropout (the student's ``AlwaysDropout``) in a model configuration."""
    if isinstance(node, list):
        return [rate for value in node for rate in _stand_in_rates(value)]
    if not isinstance(node, dict):
        return []
    found = [rate for value in node.values() for rate in _stand_in_rates(value)]
    if node.get("class_name") == "AlwaysOnDropout" and node.get("module") == models.GRADER_MODULE:
        found.append((node.get("config") or {}).get("rate"))
    return found


def _dropout_rates(r) -> list:
    """The rates of the always-on dropout layers of the saved dropout_model, as the judge ran it: the layers the clean
    sandbox loaded must include them, and the rates are read from the configuration it audited (the same archive)."""
    classes = [kind for _, kind in r.model("dropout_model")["layers"]]
    data = models.audit(np.asarray(r["model:dropout_model"], dtype=np.uint8).tobytes(), exercise.stand_ins)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        rates = _stand_in_rates(json.loads(archive.read("config.json").decode("utf-8")))
    return rates if "AlwaysOnDropout" in classes else []


def _rms(mu, truth) -> float:
    return float(np.sqrt(np.mean((mu - truth) ** 2)))


def _coverage(mu, sigma, truth) -> float:
    return float(np.mean(np.abs(mu - truth) < sigma))


# ------------------------------------------------------------------------------------------------- (1)
@exercise.check(task="1", points=0.5)
def features_are_the_flattened_network_input(r, ctx):
    want = ctx.kept["features_fresh"]
    got = array(r["features_fresh"], name="features(events)")
    assert got.shape == want.shape, f"expected features(events) of shape {want.shape}, got {got.shape}"
    assert np.allclose(got, want, atol=1e-6), (
        "expected features(events) = airshower.network_input(events, time_unit=1e-5) flattened to (n, 162)"
    )


@exercise.check(task="1", points=0.5)
def validation_inputs_and_targets(r, ctx):
    p = ctx.params
    shape = tuple(int(s) for s in np.ravel(array(r["x_train_shape"], name="x_train.shape")))
    assert shape == (p["N_TRAIN"], 162), f"expected x_train of shape ({p['N_TRAIN']}, 162), got {shape}"
    x_val, y_val = array(r["x_val"], name="x_val"), array(r["y_val"], name="y_val")
    assert x_val.shape == ctx.kept["x_val"].shape and np.allclose(x_val, ctx.kept["x_val"], atol=1e-6), (
        "expected x_val = features(val_events)"
    )
    assert y_val.shape == ctx.kept["y_val"].shape and np.allclose(y_val, ctx.kept["y_val"], atol=1e-5), (
        "expected y_val = the true log10(E/eV) of val_events"
    )


# ------------------------------------------------------------------------------------------------- (2)
@exercise.check(task="2", points=0.5)
def gaussian_nll_is_the_mean_negative_log_likelihood(r, ctx):
    y, pred = ctx.sent["y_true"], ctx.sent["y_pred"]
    z = (y - pred[:, 0]) / np.exp(pred[:, 1])
    reference = np.mean(0.5 * z**2 + pred[:, 1] + 0.5 * np.log(2 * np.pi))
    got = number(r["nll"], "gaussian_nll(y_true, y_pred)")
    assert np.isclose(got, reference, rtol=1e-4, atol=1e-4), (
        f"expected gaussian_nll = the batch mean of (y − μ)²/2σ² + ln σ + ½ ln 2π on values it drew; got {got:.4f}"
    )


@exercise.check(task="2", points=1.5)
def single_network_on_fresh_showers(r, ctx):
    truth = ctx.kept["logE"]
    mu, sigma = _network(r["net_fresh"], len(truth), "nll_model")
    got_mu, got_sigma = _single(r["single_fresh"], len(truth), "predict_nll(events)")
    assert np.allclose(got_mu, mu, rtol=1e-5, atol=1e-4) and np.allclose(got_sigma, sigma, rtol=1e-3), (
        "expected predict_nll(events) = (μ, exp(ln σ)) of the outputs of your trained nll_model on features(events), "
        "as the page says; it returns something else"
    )
    rms, pull_std = _rms(mu, truth), float(np.std((mu - truth) / sigma))
    bound, (low, high) = RMS_BOUND[ctx.fast], ((0.7, 1.5) if ctx.fast else (0.85, 1.25))
    assert rms < bound, f"expected an rms of μ below {bound} dex on fresh showers; yours is {rms:.4f} dex"
    assert low < pull_std < high, (
        f"expected a pull std within [{low}, {high}] on fresh showers; yours is {pull_std:.3f}"
    )


# ------------------------------------------------------------------------------------------------- (3)
@exercise.check(task="3", points=1)
def ensemble_combines_its_members_by_the_recipe(r, ctx):
    n = len(ctx.kept["logE"])
    m = ctx.params["N_MEMBERS"]
    count = int(number(r["n_members"], "len(ensemble)"))
    assert count == m == N_MEMBERS, f"expected ensemble to hold N_MEMBERS = {N_MEMBERS} models; it holds {count}"
    members = _members(r, n)
    assert all(not np.allclose(members[i, 0], members[j, 0]) for i in range(m) for j in range(i)), (
        "expected members that differ (different random starts)"
    )
    mu, ale, epi = _triple(r["ensemble_fresh"], n, "predict_ensemble(events)")
    for got, reference, what in zip((mu, ale, epi), _combined(members), ("mu", "sigma_ale", "sigma_epi"), strict=True):
        assert np.allclose(got, reference, rtol=1e-3, atol=1e-4), (
            f"expected {what} of predict_ensemble by the recipe of the page from the outputs of the trained members"
        )


@exercise.check(task="3", points=1)
def ensemble_is_calibrated_on_fresh_showers(r, ctx):
    truth = ctx.kept["logE"]
    mu, ale, epi = _combined(_members(r, len(truth)))
    single, _ = _network(r["net_fresh"], len(truth), "nll_model")
    coverage = _coverage(mu, np.hypot(ale, epi), truth)
    tolerance = 0.1 if ctx.fast else 0.06
    assert abs(coverage - 0.683) < tolerance, (
        f"expected the ensemble's 68 % coverage within {tolerance} of 0.683 on fresh showers; yours is {coverage:.3f}"
    )
    bound = RMS_BOUND[ctx.fast]
    assert _rms(mu, truth) < bound, (
        f"expected the ensemble's rms below {bound} dex on fresh showers; yours is {_rms(mu, truth):.4f} dex"
    )
    assert _rms(mu, truth) < _rms(single, truth) + 0.002, (
        f"expected the ensemble no worse than one member on fresh showers; its rms is {_rms(mu, truth):.4f} dex "
        f"against {_rms(single, truth):.4f}"
    )


# ------------------------------------------------------------------------------------------------- (4)
@exercise.check(task="4", points=1)
def dropout_stays_on_and_does_not_depend_on_the_batch(r, ctx):
    truth = ctx.kept["logE"]
    # the student's class and predict_dropout, in the kernel: dropout on, and no dependence on the batch
    mu, ale, epi = _triple(r["dropout_fresh"], len(truth), "predict_dropout(events)")
    assert np.all(epi > 0), "expected sigma_epi > 0 for every shower: dropout on at prediction"
    mu2, _, _ = _triple(r["dropout_pair"], 2, "predict_dropout(two showers)")
    shift = np.abs(mu2 - mu[:2]) / np.hypot(ale[:2], epi[:2])
    assert np.all(shift < 0.5), (
        f"expected two showers alone to get the μ they get among the others; they differ by {shift.round(2)} error "
        "bars (BatchNormalization in training mode?)"
    )
    # the saved dropout_model: the page's AlwaysDropout(DROPOUT), run by the judge as its own always-on Dropout
    rate, rates = ctx.params["DROPOUT"], _dropout_rates(r)
    assert rates, (
        f"expected dropout_model to hold the page's AlwaysDropout(DROPOUT) layers (DROPOUT = {rate}) after its hidden "
        "layers, as build_dropout_network builds them; the grader finds none in the saved model"
    )
    assert all(isinstance(x, (int, float)) and np.isclose(x, rate) for x in rates), (
        f"expected every AlwaysDropout of dropout_model at the page's rate DROPOUT = {rate}; yours have {rates}"
    )
    # the quality: the saved dropout_model's own passes, run by the judge
    truth = truth[:N_DROPOUT]
    mu, ale, epi = _dropout(r)
    assert np.all(epi > 0), "expected the passes of the saved dropout_model to differ (dropout on at prediction)"
    low, high = (0.5, 0.9) if ctx.fast else (0.6, 0.88)
    coverage = _coverage(mu, np.hypot(ale, epi), truth)
    assert low < coverage < high, (
        f"expected MC dropout's 68 % coverage within ({low}, {high}) on fresh showers; yours is {coverage:.3f}"
    )
    single, _ = _network(r["net_fresh"], len(ctx.kept["logE"]), "nll_model")
    single = single[:N_DROPOUT]
    margin = 0.02 if ctx.fast else 0.008
    assert _rms(mu, truth) < RMS_BOUND[ctx.fast] + margin, (
        f"expected MC dropout's rms below {RMS_BOUND[ctx.fast] + margin:.3f} dex on fresh showers; yours is "
        f"{_rms(mu, truth):.4f} dex"
    )
    assert _rms(mu, truth) < _rms(single, truth) + margin, (
        f"expected MC dropout's rms within {margin} dex of the single network's; yours is {_rms(mu, truth):.4f} dex"
    )


# ------------------------------------------------------------------------------------------------- (5)
def _same_figures(got, want, what: str, n: int, rough: bool = False) -> None:
    assert isinstance(got, dict), f"expected {what} to be a dict"
    for key, reference in want.items():
        assert key in got, f"expected {what} to hold {key!r}"
        value = np.asarray(got[key], dtype=float)  # NaN where a bin is empty, as in the judge's own
        assert value.shape == np.shape(reference), f"expected {what}[{key!r}] of shape {np.shape(reference)}"
        if key == "rms":
            ok = np.allclose(value, reference, rtol=0.02 if rough else 1e-3, equal_nan=True)
        elif key.startswith("coverage") or key == "calibration":
            ok = np.allclose(value, reference, atol=0.02 if rough else 1.5 / n, equal_nan=True)
        else:
            ok = np.allclose(value, reference, rtol=0.05 if rough else 1e-3, atol=1e-6, equal_nan=True)
        assert ok, f"expected {what}[{key!r}] as the page defines it; got {np.round(value, 4)}"


@exercise.check(task="5", points=1)
def evaluate_on_drawn_values(r, ctx):
    s = ctx.sent
    want = evaluate(s["mu"], s["sigma"], s["log_e"], np.asarray(ctx.params["E_BINS"], dtype=float))
    _same_figures(r["evaluate_drawn"], want, "evaluate(mu, sigma, log_e)", len(s["mu"]))


@exercise.check(task="5", points=1)
def evaluation_describes_the_predict_functions(r, ctx):
    truth, edges = ctx.kept["nb_logE"], np.asarray(ctx.params["E_BINS"], dtype=float)
    n = len(truth)
    evaluation = r["evaluation"]
    assert isinstance(evaluation, dict) and sorted(evaluation) == ["dropout", "ensemble", "single"], (
        "expected evaluation with the keys single, ensemble and dropout"
    )
    mu, sigma = _single(r["single_nb"], n, "predict_nll(fresh)")
    _same_figures(evaluation["single"], evaluate(mu, sigma, truth, edges), "evaluation['single']", n)
    mu, ale, epi = _triple(r["ensemble_nb"], n, "predict_ensemble(fresh)")
    _same_figures(evaluation["ensemble"], evaluate(mu, np.hypot(ale, epi), truth, edges), "evaluation['ensemble']", n)
    mu, ale, epi = _triple(r["dropout_nb"], n, "predict_dropout(fresh)")
    want = evaluate(mu, np.hypot(ale, epi), truth, edges)
    _same_figures(evaluation["dropout"], want, "evaluation['dropout']", n, rough=True)  # random passes


# ------------------------------------------------------------------------------------------------- (6)
@exercise.check(task="6", points=0.5)
def scaling_describes_the_networks(r, ctx):
    truth = ctx.kept["nb_logE"]
    sizes = [str(n) for n in ctx.params["N_SCALING"]]
    scaling, outputs = r["scaling"], r["scaling_nb"]
    assert isinstance(scaling, dict) and sorted(scaling) == sorted(sizes) and sorted(outputs) == sorted(sizes), (
        f"expected scaling and scaling_nets with the keys N_SCALING = {ctx.params['N_SCALING']}"
    )
    for n in sizes:
        mu, sigma = _single(outputs[n], len(truth), f"predict_nll(fresh, scaling_nets[{n}])")
        got = scaling[n]
        assert isinstance(got, dict) and {"rms", "sigma_median"} <= set(got), (
            f"expected scaling[{n}] with 'rms' and 'sigma_median'"
        )
        assert np.isclose(number(got["rms"], "rms"), _rms(mu, truth), rtol=1e-3), (
            f"expected scaling[{n}]['rms'] from predict_nll(fresh, scaling_nets[{n}]); got {number(got['rms']):.4f}"
        )
        assert np.isclose(number(got["sigma_median"], "sigma_median"), np.median(sigma), rtol=1e-3), (
            f"expected scaling[{n}]['sigma_median'] = the median σ of predict_nll(fresh, scaling_nets[{n}])"
        )


@exercise.check(task="6", points=0.5)
def rms_falls_with_more_training_data(r, ctx):
    truth = ctx.kept["logE"]
    sizes = [str(n) for n in ctx.params["N_SCALING"]]
    small = _rms(_network(r["scaling_smallest_fresh"], len(truth), "the smallest network")[0], truth)
    large = _rms(_network(r["scaling_largest_fresh"], len(truth), "the largest network")[0], truth)
    assert large < small - 0.005, (
        f"expected the rms on fresh showers to fall by more than 0.005 dex from {sizes[0]} to {sizes[-1]} training "
        f"showers; yours goes from {small:.4f} to {large:.4f} dex"
    )


# ------------------------------------------------------------------------------------------------- (7)
@exercise.check(task="7", points=1)
def ood_figures_describe_the_predict_functions(r, ctx):
    truth, n_fresh = ctx.kept["ood_logE"], len(ctx.kept["nb_logE"])
    figures = r["ood_figures"]
    assert isinstance(figures, dict) and sorted(figures) == ["dropout", "ensemble"], (
        "expected ood_figures with the keys ensemble and dropout"
    )
    for name, rough in (("ensemble", False), ("dropout", True)):
        mu, ale, epi = _triple(r[f"{name}_ood"], len(truth), f"predict_{name}(ood)")
        _, _, epi_fresh = _triple(r[f"{name}_nb"], n_fresh, f"predict_{name}(fresh)")
        want = {
            "bias": float(np.mean(mu - truth)),
            "coverage68": _coverage(mu, np.hypot(ale, epi), truth),
            "epistemic_ratio": float(np.median(epi) / max(np.median(epi_fresh), 1e-12)),
        }
        got = figures[name]
        assert isinstance(got, dict) and set(want) <= set(got), f"expected ood_figures[{name!r}] to hold {sorted(want)}"
        tolerance = {"bias": 0.005, "coverage68": 0.03, "epistemic_ratio": 0.1} if rough else {}
        for key, reference in want.items():
            value = number(got[key], f"ood_figures[{name!r}][{key!r}]")
            limit = tolerance.get(key, 1.5 / len(truth) if key == "coverage68" else 1e-4)
            close = abs(value - reference) <= (limit * abs(reference) if key == "epistemic_ratio" else limit)
            assert close or np.isclose(value, reference, rtol=1e-3), (
                f"expected ood_figures[{name!r}][{key!r}] from predict_{name} on the out-of-range showers; got "
                f"{value:.4f}"
            )
