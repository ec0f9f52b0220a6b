"""Trusted checks of Exercise 13.1 — planing and DisCo: classifiers that do not sculpt the mass (10 points).

The judge splits its own copy of the planing data as the notebook does, sends the test features to the sandbox
and gets back the outputs of the student's networks on them (the four approaches and every network of the DisCo
scan); accuracies, rejections and Jensen–Shannon distances, the recorded ones and those of ``disco_scan``, are
recomputed from those outputs and the judge's labels. The student's ``background_after_cut``, ``js_distance``,
``flat_mass_weights`` and ``disco_loss`` are called on scores, masses and toy batches drawn with the grader's
seed, and ``predict`` on events simulated with it.
"""

import numpy as np
from scipy.spatial.distance import jensenshannon

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import planing

_LOSS = "__import__('keras').ops.convert_to_numpy(disco_loss({})(inputs['toy_true'], inputs['toy_pred']))"
MASS_BINS = np.linspace(60.0, 200.0, 29)  # the notebook's bins (GeV)
N_FRESH = 6000
N_TOY = 64
N_PLANE, N_PLANE_PART = 3000, 1000  # training events planed by flat_mass_weights, and its part planed by reference

exercise = Exercise(
    "13_1_planing",
    # saved, and run by the judge in a clean sandbox
    models={name: name for name in ("model_all", "model_no_mass", "model_planed", "model")},
    runs={
        "p_all": ("model_all", "x_test"),
        "p_no_mass": ("model_no_mass", "x_test"),
        "p_no_mass_shuffled": ("model_no_mass", "x_shuffled"),
        "p_planed": ("model_planed", "x_test"),
        "p_disco": ("model", "x_test"),
        "p_fresh_model": ("model", "fresh"),
    },
    collect={
        "corr_background": "corr_background",
        "corr_signal": "corr_signal",
        "accuracy": "accuracy",
        "rejection": "rejection",
        "sculpting": "sculpting",
        "cut_half": "background_after_cut(inputs['scores'], 0.5)",
        "cut_none": "background_after_cut(inputs['scores'], 1.0)",
        "js": "js_distance(inputs['masses'])",
        "js_uncut": "js_distance(inputs['background'])",
        "weights_train": "weights_train",
        "flat_sample": "flat_mass_weights(inputs['plane_mass'], inputs['plane_label'])",
        "flat_part": (
            f"flat_mass_weights(inputs['plane_mass'][:{N_PLANE_PART}], inputs['plane_label'][:{N_PLANE_PART}], "
            "reference=(inputs['plane_mass'], inputs['plane_label']))"
        ),
        "loss_0": _LOSS.format("0.0"),
        "loss_lam": _LOSS.format("inputs['lam']"),
        "y_train_disco": "y_train_disco",
        "y_val_disco": "y_val_disco",
        "p_fresh": "predict(inputs['fresh'])",
        "disco_scan": "disco_scan",
        "scan_outputs": (
            "{str(lam): network.predict(inputs['x_test'], batch_size=4096, verbose=0) "
            "for lam, network in disco_networks.items()}"
        ),
    },
)


@exercise.inputs
def fresh(ctx):
    p, rng = ctx.params, ctx.rng
    data = planing.load(fast=ctx.fast)
    x, y = data["x"], data["y"]
    order = np.random.default_rng(p["SEED"]).permutation(len(y))  # the notebook's split (seed_everything)
    n_test, n_val = int(p["TEST_FRACTION"] * len(y)), int(p["VAL_FRACTION"] * len(y))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    x_test, y_test = x[test], y[test]
    shuffled = x_test.copy()
    shuffled[:, 0] = rng.permutation(shuffled[:, 0])
    background = x_test[y_test == 0, 0]
    masses = np.concatenate([rng.choice(background, size=len(background) // 3), rng.uniform(60, 200, size=300)])
    labels = rng.integers(0, 2, size=N_TOY)
    labels[:2] = [0, 1]
    toy_true = np.stack([labels, rng.uniform(60.0, 200.0, size=N_TOY)], axis=1).astype("float32")
    toy_pred = rng.uniform(0.05, 0.95, size=(N_TOY, 1)).astype("float32")
    new = planing.simulate(N_FRESH, seed=int(np.random.SeedSequence(ctx.seed).generate_state(1)[0]))
    plane = rng.choice(len(train), size=min(N_PLANE, len(train)), replace=False)
    sent = {
        "x_test": x_test,
        "x_shuffled": shuffled,
        "scores": rng.uniform(size=len(y_test)),
        "masses": masses.astype("float32"),
        "background": background,
        "toy_true": toy_true,
        "toy_pred": toy_pred,
        "lam": float(rng.uniform(0.5, 5.0)),
        "fresh": new["x"],
        "plane_mass": x[train][plane, 0],
        "plane_label": y[train][plane],
    }
    kept = {
        "y_test": y_test,
        "x_train": x[train],
        "y_train": y[train],
        "x_val": x[val],
        "y_val": y[val],
        "y_fresh": new["y"],
        "bayes_accuracy": float(np.mean((planing.signal_probability(x_test) > 0.5) == y_test)),
    }
    return sent, kept


def _accepted(p, y, mass, efficiency=0.5):
    """Masses of the background above the cut that keeps ``efficiency`` of the signal."""
    cut = np.quantile(p[y == 1], 1.0 - efficiency) if efficiency < 1 else -np.inf
    return mass[(y == 0) & (p > cut)]


def _js(masses, reference):
    return float(jensenshannon(np.histogram(masses, MASS_BINS)[0], np.histogram(reference, MASS_BINS)[0], base=2))


def _approach(r, ctx, key, network):
    """(output, accuracy, rejection, JS distance) of ``network`` recomputed from the network's test outputs."""
    y, mass = ctx.kept["y_test"], ctx.sent["x_test"][:, 0]
    p = array(r[key], name=f"{network}.predict(x_test)").reshape(-1)
    assert p.shape == y.shape, f"expected {network} to give one output per test event, got {p.size}"
    accepted = _accepted(p, y, mass)
    accuracy = float(np.mean((p > 0.5) == y))
    rejection = np.sum(y == 0) / max(len(accepted), 1)
    return p, accuracy, rejection, _js(accepted, mass[y == 0])


def _recorded(r, approach, accuracy, rejection, sculpting, network):
    entries = {name: r[name] for name in ("accuracy", "rejection", "sculpting")}
    for name, entry in entries.items():
        assert isinstance(entry, dict) and approach in entry, f"expected {name}[{approach!r}]"
    assert abs(number(entries["accuracy"][approach]) - accuracy) < 1e-3, (
        f"expected accuracy[{approach!r}] = the test accuracy of {network}"
    )
    assert abs(number(entries["sculpting"][approach]) - sculpting) < 0.01, (
        f"expected sculpting[{approach!r}] = the JS distance of the background {network} accepts at EFFICIENCY"
    )
    assert abs(number(entries["rejection"][approach]) - rejection) < 0.05 * rejection, (
        f"expected rejection[{approach!r}] = test background / background {network} accepts at EFFICIENCY"
    )


def _dcorr2(x, y, w):
    """Weighted squared distance correlation (as ``dlphys.losses.distance_correlation``, in float64)."""
    w = w / max(w.sum(), 1e-12)

    def centred(v):
        a = np.abs(v[:, None] - v[None, :])
        row = a @ w
        return a - row[:, None] - row[None, :] + w @ row

    a, b = centred(x), centred(y)
    ww = w[:, None] * w[None, :]
    value = np.sum(ww * a * b) / np.sqrt(max(np.sum(ww * a * a) * np.sum(ww * b * b), 1e-24))
    return float(np.clip(value, 0.0, 1.0))


@exercise.check(task="2", points=1)
def correlation_matrices(r, ctx):
    x, y = ctx.kept["x_train"], ctx.kept["y_train"]
    for label, name in ((0, "corr_background"), (1, "corr_signal")):
        got = array(r[name], (5, 5), name)
        assert np.allclose(got, np.corrcoef(x[y == label], rowvar=False), atol=1e-3), (
            f"expected {name} to be the correlation matrix of the events with y_train == {label} of the training set"
        )


@exercise.check(task="3", points=1)
def cut_and_js_distance_functions(r, ctx):
    y, mass, scores = ctx.kept["y_test"], ctx.sent["x_test"][:, 0], ctx.sent["scores"]
    background = mass[y == 0]
    uncut = array(r["cut_none"], name="background_after_cut(p, 1.0)")
    assert np.array_equal(np.sort(uncut), np.sort(background)), (
        f"expected all {len(background)} test-background masses at efficiency 1.0 (no cut), got {len(uncut)}"
    )
    want = _accepted(scores, y, mass)
    got = array(r["cut_half"], name="background_after_cut(p, 0.5)")
    assert abs(len(got) - len(want)) <= 2 and np.isin(got, background).all(), (
        "expected background_after_cut(p, 0.5) = the background masses above the median of p on the signal"
    )
    assert np.isin(want, got).mean() > 0.99, "expected background_after_cut to keep the background with p above the cut"
    js = number(r["js"], "js_distance(masses)")
    assert abs(js - _js(ctx.sent["masses"], background)) < 1e-6, (
        "expected js_distance = JS distance (base 2) of the histograms in MASS_BINS to the test background's"
    )
    assert abs(number(r["js_uncut"], "js_distance")) < 1e-6, "expected js_distance 0 for the uncut background"


@exercise.check(task="3", points=1)
def recorded_results_of_model_all(r, ctx):
    _, accuracy, rejection, js = _approach(r, ctx, "p_all", "model_all")
    _recorded(r, "all features", accuracy, rejection, js, "model_all")


@exercise.check(task="3", points=1)
def model_all_classifies(r, ctx):
    p, accuracy, rejection, _ = _approach(r, ctx, "p_all", "model_all")
    assert np.all((p >= 0) & (p <= 1)), "expected P(signal) between 0 and 1 from model_all"
    margin = 0.02 if ctx.fast else 0.0075
    assert accuracy > ctx.kept["bayes_accuracy"] - margin, (
        f"expected a test accuracy within {margin} of that of the exact P(signal | x), got {accuracy:.4f}"
    )
    assert rejection > 2, f"expected a background rejection above 2, got {rejection:.2f}"


@exercise.check(task="4", points=1)
def model_without_the_mass(r, ctx):
    p, accuracy, rejection, js = _approach(r, ctx, "p_no_mass", "model_no_mass")
    shuffled = array(r["p_no_mass_shuffled"], name="model_no_mass.predict").reshape(-1)
    assert np.allclose(p, shuffled, atol=1e-5), "expected model_no_mass to ignore column 0 (the mass)"
    _recorded(r, "no mass", accuracy, rejection, js, "model_no_mass")
    all_accuracy = _approach(r, ctx, "p_all", "model_all")[1]
    assert accuracy < all_accuracy, f"expected a lower accuracy without the mass, got {accuracy:.4f}"
    y, mass = ctx.kept["y_test"], ctx.sent["x_test"][:, 0]
    mean = _accepted(p, y, mass).mean()
    assert mean > mass[y == 0].mean() + 10, (
        f"expected the mean mass of the accepted background more than 10 GeV above that of all test background, "
        f"got {mean:.1f} GeV"
    )


def _planed(weights, mass, label, name):
    """Assert the properties of planing weights the page states: per class flat, total N_c, one weight per bin."""
    assert np.all(weights >= 0), f"expected non-negative weights from {name}"
    bins = np.searchsorted(MASS_BINS, mass, side="right") - 1
    for c, kind in ((0, "background"), (1, "signal")):
        sel = label == c
        weighted = np.histogram(mass[sel], bins=MASS_BINS, weights=weights[sel])[0]
        filled = np.histogram(mass[sel], bins=MASS_BINS)[0] > 0
        spread = weighted[filled].std() / max(weighted[filled].mean(), 1e-12)
        assert spread < 1e-3, f"expected a flat weighted mass histogram of the {kind} from {name}, spread {spread:.3f}"
        total = weights[sel].sum()
        assert abs(total - sel.sum()) < 1e-3 * sel.sum(), (
            f"expected the {kind} weights of {name} to add up to its {sel.sum()} events, got {total:.1f}"
        )
        for b in np.unique(bins[sel]):
            w = weights[sel & (bins == b)]
            assert np.ptp(w) <= 1e-6 * max(w.max(), 1e-12), (
                f"expected one weight per class and mass bin from {name}, got different {kind} weights in a bin"
            )


@exercise.check(task="5", points=1)
def flat_mass_weights_planes_any_sample(r, ctx):
    mass, label = ctx.sent["plane_mass"].astype(float), ctx.sent["plane_label"]
    weights = array(r["flat_sample"], (len(label),), "flat_mass_weights(mass, label)")
    _planed(weights, mass, label, "flat_mass_weights(mass, label)")
    part = array(r["flat_part"], (N_PLANE_PART,), "flat_mass_weights(..., reference=...)")
    assert np.allclose(part, weights[:N_PLANE_PART], rtol=1e-6), (
        "expected flat_mass_weights with a reference to give each event the weight of its class and bin in the "
        "reference"
    )
    x, y = ctx.kept["x_train"], ctx.kept["y_train"]
    _planed(array(r["weights_train"], (len(y),), "weights_train"), x[:, 0].astype(float), y, "weights_train")


@exercise.check(task="5", points=1)
def planed_network(r, ctx):
    _, accuracy, rejection, js = _approach(r, ctx, "p_planed", "model_planed")
    _recorded(r, "planing", accuracy, rejection, js, "model_planed")
    js_all = _approach(r, ctx, "p_all", "model_all")[3]
    assert js < js_all - 0.05, f"expected a JS distance below {js_all - 0.05:.3f} with planing, got {js:.3f}"
    assert accuracy > 0.75, f"expected a planed network better than 0.75 in accuracy, got {accuracy:.3f}"


@exercise.check(task="6a", points=1)
def disco_loss_and_targets(r, ctx):
    true, pred, lam = ctx.sent["toy_true"], ctx.sent["toy_pred"], ctx.sent["lam"]
    label, mass, p = true[:, 0].astype(float), true[:, 1].astype(float), pred[:, 0].astype(float)
    bce = -np.log(np.where(label == 1, p, 1 - p))
    loss_0 = array(r["loss_0"], name="disco_loss(0)(y_true, y_pred)")
    assert loss_0.shape == (N_TOY,), (
        f"expected disco_loss(lam) to return shape (batch,) = ({N_TOY},), got {loss_0.shape}"
    )
    assert np.allclose(loss_0, bce, atol=1e-4), "expected disco_loss(0) to be the per-event binary cross-entropy"
    loss = array(r["loss_lam"], (N_TOY,), "disco_loss(lam)(y_true, y_pred)")
    penalty = lam * _dcorr2(p, mass, 1.0 - label)
    assert np.allclose(loss - bce, penalty, atol=1e-3 * max(1.0, lam)), (
        "expected the penalty lam · dCorr²(output, mass) over the background events of the batch"
    )
    for name, x, y in (("y_train_disco", "x_train", "y_train"), ("y_val_disco", "x_val", "y_val")):
        want = np.stack([ctx.kept[y], ctx.kept[x][:, 0]], axis=1)
        got = np.asarray(r[name])
        assert got.shape == want.shape and got.dtype == np.float32, f"expected {name} float32 of shape {want.shape}"
        assert np.allclose(got, want), f"expected {name} to hold the label in column 0 and the mass in GeV in column 1"


@exercise.check(task="6b", points=0.5)
def decorrelated_model(r, ctx):
    _, accuracy, rejection, js = _approach(r, ctx, "p_disco", "model")
    _recorded(r, "DisCo", accuracy, rejection, js, "model")
    js_all = _approach(r, ctx, "p_all", "model_all")[3]
    assert js < 0.5 * js_all, f"expected a JS distance below half that of model_all, got {js:.3f}"
    assert rejection > 2, f"expected a background rejection above 2 with DisCo, got {rejection:.2f}"


@exercise.check(task="6b", points=0.5)
def predict_on_fresh_events(r, ctx):
    y, mass = ctx.kept["y_fresh"], ctx.sent["fresh"][:, 0]
    p = array(r["p_fresh"], name="predict(features)")
    assert p.shape == (N_FRESH,), f"expected predict to return shape ({N_FRESH},), got {p.shape}"
    assert np.all((p >= 0) & (p <= 1)), "expected probabilities between 0 and 1"
    reference = array(r["p_fresh_model"], name="model.predict").reshape(-1)
    assert np.allclose(p, reference, atol=1e-5), "expected predict to return P(signal) of model"
    accepted = _accepted(p, y, mass)
    rejection = np.sum(y == 0) / max(len(accepted), 1)
    assert rejection > 2.5, f"expected a background rejection above 2.5 on fresh events, got {rejection:.2f}"
    js = _js(accepted, mass[y == 0])
    assert js < 0.3, f"expected predict not to sculpt the background mass on fresh events (JS distance {js:.3f})"


@exercise.check(task="6c", points=1)
def price_of_decorrelation(r, ctx):
    scan, outputs = r["disco_scan"], r["scan_outputs"]
    assert isinstance(scan, dict), "expected disco_scan to be a dict lambda -> (rejection, sculpting)"
    assert isinstance(outputs, dict), "expected disco_networks to be a dict lambda -> network"
    try:
        entries = {float(key): value for key, value in scan.items()}
        networks = {float(key): value for key, value in outputs.items()}
    except ValueError as exc:
        raise AssertionError("expected disco_scan and disco_networks to have the weights lambda as keys") from exc
    wanted = {float(ctx.params["DISCO_LAMBDA"]), *(float(v) for v in ctx.params["DISCO_LAMBDAS"])}
    assert wanted <= set(entries), f"expected one entry of disco_scan per lambda {sorted(wanted)}"
    assert wanted <= set(networks), f"expected one network of disco_networks per lambda {sorted(wanted)}"
    y, mass = ctx.kept["y_test"], ctx.sent["x_test"][:, 0]
    sculpting = []
    for lam in sorted(wanted):
        got_rejection, got_js = array(entries[lam], (2,), f"disco_scan[{lam:g}]")
        p = array(networks[lam], name=f"disco_networks[{lam:g}].predict(x_test)").reshape(-1)
        assert p.shape == y.shape, f"expected disco_networks[{lam:g}] to give one output per test event"
        accepted = _accepted(p, y, mass)
        rejection, js = np.sum(y == 0) / max(len(accepted), 1), _js(accepted, mass[y == 0])
        assert abs(got_js - js) < 0.01 and abs(got_rejection - rejection) < 0.05 * rejection, (
            f"expected disco_scan[{lam:g}] = (rejection, JS distance) of disco_networks[{lam:g}] at EFFICIENCY on "
            f"the test set, got ({got_rejection:.3g}, {got_js:.3f})"
        )
        sculpting.append(js)
    js_all = _approach(r, ctx, "p_all", "model_all")[3]
    assert min(sculpting) < 0.5 * js_all, (
        f"expected the least sculpting of the scan below half that of model_all ({js_all:.3f}), "
        f"got {min(sculpting):.3f}"
    )
