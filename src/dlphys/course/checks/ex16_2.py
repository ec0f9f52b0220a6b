"""Trusted checks of Exercise 16.2 — CWoLa and learning from label proportions (10 points).

The planing toy has exact class densities, so the judge knows the best classifier (``planing.signal_probability``)
and the best signal-region-versus-sideband classifier of the background (from the exact densities, integrated over
the mass). It draws labelled fresh events with the grader's seed and

- calls ``train_classifier`` on a labelled sample it draws, with the labels swapped (1 for background) and the five
  columns in an order it draws, and runs the model it returns on fresh events in that order: its AUC for the labels
  it was given must come within 0.025 (fast mode) or 0.01 (full mode) of the exact one (a network that ignores the
  data it is given, a fixed pre-trained one, ranks the fresh events the wrong way round, on the wrong columns);
- runs ``supervised``, every model of ``cwola_models`` and ``llp_event`` on the fresh events and applies the page's
  criteria; each CWoLa model's output must also lie near the optimum of its own fractions, h/(1 − h) = L_M (the
  supervised network, which ranks the events as well, lies far from it); recomputes ``auc_supervised``,
  ``auc_cwola``, ``p_cwola``, ``rms_inverted`` and ``auc_llp`` from the models on its copy of the notebook's test
  set (rebuilt from ``SEED`` and ``N_TEST``);
- calls ``cwola_probability`` on outputs and fractions it draws, against the inversion of the page;
- runs the two bump-hunt networks (``bump_models``) on background events it simulates itself, signal region
  against sidebands: on x1–x3 the AUC must come within 0.03 of the optimum from the exact densities (a trained
  network: 0.818 against 0.823), on x4 within 0.03 of 0.5; ``auc_bump_correlated`` and ``auc_bump_independent``
  must agree with those within 0.03 (the notebook's test half is another sample).

The networks that earn the points of a classifier must be built as the page's (``PAGE_LAYERS``: a Normalization, two
hidden Dense layers, a sigmoid Dense output), so that a hand-set formula or a fixed head put on another network (a
red team's: one supervised network with a two-unit head per pair) is not taken for a CWoLa network. Every model is
saved in the student's sandbox and run by the judge in a clean one (never the student's code, so a
"model" that computes the exact probability, or anything but a network, earns nothing); the fresh events and the
test set never enter the student's sandbox.
"""

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import planing

N_FRESH = 20_000
# the page's criteria (fast mode, in which grading runs; full mode)
# (measured with three seeds, full mode: 0.9576–0.9585, 0.9558–0.9578, 0.9494–0.9543, 0.9382–0.9418; fast mode:
# 0.953–0.954, 0.949–0.950, 0.934–0.942, 0.906–0.907; inversion 0.046–0.057 and 0.106–0.108; LLP 0.952 and 0.929)
CWOLA_FAST = [0.93, 0.925, 0.91, 0.87]
CWOLA_FULL = [0.95, 0.945, 0.935, 0.92]
INVERT_FAST, INVERT_FULL = 0.15, 0.08
LLP_FAST, LLP_FULL = 0.9, 0.94
TRAIN_GAP_FAST, TRAIN_GAP_FULL = 0.025, 0.01
# rms of a CWoLa model's output h about the optimum L_M/(1 + L_M) of its fractions, on fresh events (measured in fast
# mode, two seeds: 0.066–0.068, 0.049–0.051, 0.033–0.036, 0.025–0.028; full mode, one: 0.032, 0.038, 0.021, 0.020; the
# supervised network in their place: 0.16, 0.23, 0.31, 0.35). train_classifier on the swapped labels and shuffled
# columns: 0.950–0.951 against an exact 0.962 (fast mode), 0.958 (full mode), as on the page's labels.
CWOLA_RMS = 0.1

# the page's FRACTIONS, in the order of CWOLA_FAST; the saved model of pair k is "cwola_k"
PAIRS = [(0.8, 0.2), (0.7, 0.3), (0.6, 0.4), (0.55, 0.45)]


def _kept(key):
    return lambda r, ctx: ctx.kept[key]


exercise = Exercise(
    "16_2_cwola_proportions",
    # saved, and run by the judge in a clean sandbox
    models={
        "trained": "train_classifier(inputs['x_train'], inputs['y_train'], 3)",
        "supervised": "supervised",
        **{f"cwola_{k}": f"cwola_models[{pair}]" for k, pair in enumerate(PAIRS)},
        "llp_event": "llp_event",
        "bump_correlated": "bump_models['correlated']",
        "bump_independent": "bump_models['independent']",
    },
    runs={
        "trained_fresh": ("trained", _kept("x_columns")),
        "supervised_test": ("supervised", _kept("x_test")),
        **{f"cwola_fresh_{k}": (f"cwola_{k}", _kept("x")) for k in range(len(PAIRS))},
        **{f"cwola_test_{k}": (f"cwola_{k}", _kept("x_test")) for k in range(len(PAIRS))},
        "llp_fresh": ("llp_event", _kept("x")),
        "llp_test": ("llp_event", _kept("x_test")),
        "bump_correlated_fresh": ("bump_correlated", lambda r, ctx: ctx.kept["bump_x"][:, 1:4]),
        "bump_independent_fresh": ("bump_independent", lambda r, ctx: ctx.kept["bump_x"][:, 4:5]),
    },
    collect={
        "cwola_pairs": "sorted(str(k) for k in cwola_models)",
        "auc_supervised": "auc_supervised",
        "auc_cwola": "{str(k): v for k, v in auc_cwola.items()}",
        "inverted": "cwola_probability(inputs['h'], inputs['f1'], inputs['f2'])",
        "p_cwola": "p_cwola",
        "rms_inverted": "rms_inverted",
        "auc_llp": "auc_llp",
        "auc_bump_correlated": "auc_bump_correlated",
        "auc_bump_independent": "auc_bump_independent",
    },
)


def inversion(h, f1, f2) -> np.ndarray:
    """P(signal | x) for half signal from a CWoLa output h of fractions f1 > f2 (the page's clipping)."""
    h = np.clip(np.asarray(h, dtype=float), 1e-12, 1 - 1e-12)
    ell = h / (1 - h)
    ratio = np.clip(ell * (1 - f2) - (1 - f1), 0, None) / np.clip(f1 - f2 * ell, 1e-12, None)
    return ratio / (1 + ratio)


def optimal_output(p, f1, f2) -> np.ndarray:
    """The optimal CWoLa output h for fractions (f1, f2), h/(1 − h) = L_M, of events with exact P(signal | x) = p
    (half signal)."""
    ratio = np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, None)
    mixed = (f1 * ratio + 1 - f1) / (f2 * ratio + 1 - f2)
    return mixed / (1 + mixed)


def bump_events(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` background events drawn as the page draws them, those with |m − 125| < 30 GeV kept: their features
    (k, 5) and whether each is in the signal region (|m − 125| < 10 GeV)."""
    background = planing.simulate(n, seed=int(rng.integers(2**31)), signal_fraction=0.0)["x"]
    distance = np.abs(background[:, 0] - planing.DEFAULTS["signal_mass"])
    kept = distance < 30
    return background[kept], distance[kept] < 10


def bump_log_ratio(events: np.ndarray) -> np.ndarray:
    """The exact log likelihood ratio, signal region against sidebands (10–30 GeV), of background ``events``
    (:func:`bump_events`) from their x1–x3: the densities of each region integrated over its masses."""
    p = planing.DEFAULTS
    low, high = p["window"]
    scale, centre, width = p["background_scale"], p["signal_mass"], p["response_width"]
    mean_g, std_g = planing._response_moments(low, high, scale, centre, width)
    corr = np.asarray(p["correlations"])
    x = events[:, 1:4].astype(float)
    masses = np.linspace(centre - 30, centre + 30, 601)
    mass_density = stats.truncexpon.pdf(masses, b=(high - low) / scale, loc=low, scale=scale)
    g_hat = (np.exp(-((masses - centre) ** 2) / (2 * width**2)) - mean_g) / std_g
    likelihood = np.exp(
        stats.norm.logpdf(x[:, None, :], loc=corr * g_hat[None, :, None], scale=np.sqrt(1 - corr**2)).sum(-1)
    )
    inside = np.abs(masses - centre) < 10
    p_signal_region = (likelihood[:, inside] * mass_density[inside]).sum(1) / mass_density[inside].sum()
    p_sidebands = (likelihood[:, ~inside] * mass_density[~inside]).sum(1) / mass_density[~inside].sum()
    return np.log(p_signal_region) - np.log(p_sidebands)


@exercise.inputs
def fresh(ctx):
    rng, p = ctx.rng, ctx.params
    labelled = planing.simulate(N_FRESH, seed=int(rng.integers(2**31)))
    training = planing.simulate(20_000, seed=int(rng.integers(2**31)))
    columns = rng.permutation(5)  # train_classifier learns, and is run, on the columns in this order
    test = planing.simulate(p["N_TEST"], seed=p["SEED"] + 1)
    f1 = rng.uniform(0.6, 0.9)
    f2 = rng.uniform(0.1, f1 - 0.2)
    p_fresh = planing.signal_probability(labelled["x"])
    bump = bump_events(100_000, rng)
    sent = {
        "x_train": training["x"][:, columns],
        "y_train": 1 - training["y"],  # swapped: 1 for background
        "h": rng.uniform(0.01, 0.99, 500),
        "f1": f1,
        "f2": f2,
    }
    kept = {
        "x": labelled["x"].astype("float32"),
        "x_columns": labelled["x"][:, columns].astype("float32"),
        "columns": columns,
        "p_exact": p_fresh,
        "x_test": test["x"].astype("float32"),
        "y": labelled["y"],
        "y_test": test["y"],
        "p_exact_test": planing.signal_probability(test["x"]),
        "auc_exact": roc_auc_score(labelled["y"], p_fresh),
        "bump_x": bump[0].astype("float32"),
        "bump_region": bump[1],
        "bump_optimum": float(roc_auc_score(bump[1], bump_log_ratio(bump[0]))),
    }
    return sent, kept


PAGE_LAYERS = ["Normalization", "Dense", "Dense", "Dense"]
"""The layers of the page's classifier (``train_classifier``, ``llp_event``): a Normalization, two hidden Dense
layers and the sigmoid Dense output (the input layer aside)."""


def _page_network(r, model, what):
    """``what`` must be built as the page's classifier: a network of other layers (a hand-set formula, a fixed head
    put on another network) is not the one the task trains."""
    classes = [kind for _, kind in r.model(model)["layers"] if kind != "InputLayer"]
    assert classes == PAGE_LAYERS, (
        f"expected {what} built as the page's classifier (a Normalization, two hidden Dense layers and a sigmoid Dense "
        f"output); it is built of {', '.join(classes) or 'nothing'}"
    )


def _scores(value, n, name) -> np.ndarray:
    out = array(value, None, name).reshape(-1)
    assert out.shape == (n,), f"expected one score per event from {name}; got shape {out.shape}"
    return out


@exercise.check(task="1", points=1)
def train_classifier_reaches_the_optimum(r, ctx):
    _page_network(r, "trained", "the model train_classifier returns")
    # the grader's labels are swapped (1 for background): the model must rank the fresh events by them
    auc = roc_auc_score(1 - ctx.kept["y"], _scores(r["trained_fresh"], N_FRESH, "train_classifier(...)"))
    gap = TRAIN_GAP_FAST if ctx.fast else TRAIN_GAP_FULL
    assert auc > ctx.kept["auc_exact"] - gap, (
        f"expected train_classifier, trained on 20,000 labelled events the grader drew (labelled 1 for background "
        f"and 0 for signal, the five columns in another order), within {gap} of the exact AUC for those labels on "
        f"fresh events; yours reaches {auc:.4f}"
        + (" (it ranks signal above background: does it learn from the x and y it is given?)" if auc < 0.5 else "")
    )


@exercise.check(task="1", points=1)
def auc_supervised_describes_the_model(r, ctx):
    y = ctx.kept["y_test"]
    reference = roc_auc_score(y, _scores(r["supervised_test"], len(y), "supervised"))
    got = number(r["auc_supervised"], "auc_supervised")
    assert np.isclose(got, reference, atol=1e-4), f"expected auc_supervised from supervised on x_test; got {got:.4f}"


def _pairs(r):
    got = r["cwola_pairs"]
    assert isinstance(got, list) and sorted(got) == sorted(str(pair) for pair in PAIRS), (
        "expected one CWoLa model per pair of FRACTIONS"
    )


@exercise.check(task="2", points=2)
def cwola_models_reach_the_criteria_on_fresh_events(r, ctx):
    _pairs(r)
    limits = CWOLA_FAST if ctx.fast else CWOLA_FULL
    for k, (pair, limit) in enumerate(zip(PAIRS, limits, strict=True)):
        _page_network(r, f"cwola_{k}", f"cwola_models[{pair}]")
        h = _scores(r[f"cwola_fresh_{k}"], N_FRESH, f"cwola_models[{pair}]")
        auc = roc_auc_score(ctx.kept["y"], h)
        assert auc > limit, f"expected CWoLa {pair} above an AUC of {limit} on fresh events; yours reaches {auc:.4f}"
        rms = float(np.sqrt(np.mean((h - optimal_output(ctx.kept["p_exact"], *pair)) ** 2)))
        assert rms < CWOLA_RMS, (
            f"expected the output h of CWoLa {pair} on fresh events within {CWOLA_RMS} rms of the optimum of its "
            f"fractions, h/(1 − h) = L_M (a network trained to tell its sample 1 from its sample 2, of equal sizes); "
            f"yours is {rms:.3f} away"
        )


@exercise.check(task="2", points=1)
def auc_cwola_describes_the_models(r, ctx):
    _pairs(r)
    y, reported = ctx.kept["y_test"], r["auc_cwola"]
    assert isinstance(reported, dict) and sorted(reported) == sorted(str(pair) for pair in PAIRS), (
        "expected auc_cwola with the pairs of cwola_models as keys"
    )
    for k, pair in enumerate(PAIRS):
        reference = roc_auc_score(y, _scores(r[f"cwola_test_{k}"], len(y), f"cwola_models[{pair}]"))
        got = number(reported[str(pair)], f"auc_cwola[{pair}]")
        assert np.isclose(got, reference, atol=1e-4), f"expected auc_cwola[{pair}] from its model; got {got:.4f}"


@exercise.check(task="3", points=1)
def cwola_probability_inverts_the_mixture(r, ctx):
    s = ctx.sent
    got = array(r["inverted"], s["h"].shape, "cwola_probability(h, f1, f2)")
    assert np.allclose(got, inversion(s["h"], s["f1"], s["f2"]), atol=1e-6), (
        "expected cwola_probability to invert the mixture relation (with the page's clipping) at values it drew"
    )


@exercise.check(task="3", points=1)
def inverted_probability_is_close_to_the_exact_one(r, ctx):
    y, exact = ctx.kept["y_test"], ctx.kept["p_exact_test"]
    reference = inversion(_scores(r["cwola_test_0"], len(y), "cwola_models[(0.8, 0.2)]"), 0.8, 0.2)
    p_cwola = array(r["p_cwola"], exact.shape, "p_cwola")
    assert np.allclose(p_cwola, reference, atol=1e-5), "expected p_cwola from the (0.8, 0.2) model on x_test"
    rms = float(np.sqrt(np.mean((reference - exact) ** 2)))
    assert np.isclose(number(r["rms_inverted"], "rms_inverted"), rms, atol=1e-4), "expected rms_inverted from p_cwola"
    limit = INVERT_FAST if ctx.fast else INVERT_FULL
    assert rms < limit, f"expected the inverted probability within {limit} rms of the exact one; yours {rms:.4f}"


@exercise.check(task="4", points=2)
def llp_event_classifies_fresh_events(r, ctx):
    _page_network(r, "llp_event", "llp_event")
    auc = roc_auc_score(ctx.kept["y"], _scores(r["llp_fresh"], N_FRESH, "llp_event"))
    limit = LLP_FAST if ctx.fast else LLP_FULL
    assert auc > limit, f"expected llp_event above an AUC of {limit} on fresh events; yours reaches {auc:.4f}"
    y = ctx.kept["y_test"]
    reference = roc_auc_score(y, _scores(r["llp_test"], len(y), "llp_event"))
    assert np.isclose(number(r["auc_llp"], "auc_llp"), reference, atol=1e-4), "expected auc_llp from llp_event"


@exercise.check(task="5", points=1)
def bump_hunt_finds_the_fake_signal_and_only_it(r, ctx):
    region = ctx.kept["bump_region"]
    for name in ("correlated", "independent"):
        _page_network(r, f"bump_{name}", f"bump_models[{name!r}] (train_classifier's)")
    judged = {
        name: roc_auc_score(region, _scores(r[f"bump_{name}_fresh"], len(region), f"bump_models[{name!r}]"))
        for name in ("correlated", "independent")
    }
    optimum = ctx.kept["bump_optimum"]
    assert optimum - 0.03 < judged["correlated"] < optimum + 0.015, (
        f"expected bump_models['correlated'] near the best AUC a classifier can reach on x1–x3 ({optimum:.3f}) on "
        f"fresh background events; yours reaches {judged['correlated']:.3f}"
    )
    assert abs(judged["independent"] - 0.5) < 0.03, (
        f"expected bump_models['independent'] near an AUC of 0.5 on fresh background; yours reaches "
        f"{judged['independent']:.3f}"
    )
    for name, value in judged.items():
        got = number(r[f"auc_bump_{name}"], f"auc_bump_{name}")
        assert abs(got - value) < 0.03, (
            f"expected auc_bump_{name} to be the AUC of bump_models[{name!r}] ({value:.3f} on the grader's events); "
            f"yours is {got:.3f}"
        )
