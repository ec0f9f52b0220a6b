"""The judge of 13.4 against attacks and models of known quality: the judge's own exact answers, and worse ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex13_4 as judge

EPSILONS = [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2]
PARAMS = {"ATTACK_T": [2.0, 2.125, 2.25], "MAX_FLIPS": 400, "EPSILONS": EPSILONS, "SEED": 42}
CUT = 0.55


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("13_4_adversarial_attacks")
    ctx = Context("13_4_adversarial_attacks", 3, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _probabilities(y, accuracy, seed):
    """Class probabilities (n, 10) that are right for the first ``accuracy`` share of ``y`` (in a random order)."""
    rng = np.random.default_rng(seed)
    calls = y.copy()
    wrong = rng.permutation(len(y))[: round((1 - accuracy) * len(y))]
    calls[wrong] = (calls[wrong] + 1 + rng.integers(9, size=len(wrong))) % 10
    return np.eye(10)[calls] * 0.9 + 0.01


def _within(x, eps, seed):
    """Images inside the ε-ball around x and in [0, 1] (what any valid attack returns)."""
    return np.clip(x + eps * np.random.default_rng(seed).choice([-1.0, 1.0], x.shape), 0, 1).astype("float32")


def _greedy_linear(spins, w, b):
    """The best attack on z = Σ wᵢsᵢ + b: flip the up spins of largest weight until z < 0."""
    out = np.array(spins).reshape(len(spins), -1)
    for s in out:
        for i in np.argsort(-w * (s > 0)):
            if s @ w + b < 0 or s[i] < 0:
                break
            s[i] = -1
    return out.reshape(np.shape(spins))


def _half_certificate(spins, cut):
    """Lattices with half the certificate's flips of majority spins (a CNN fooled with fewer flips than the cut)."""
    out = np.array(spins).reshape(len(spins), -1)
    for s, k in zip(out, judge.certificate(spins, cut) // 2, strict=True):
        majority = np.flatnonzero(s == np.sign(s.sum() or 1))
        s[majority[:k]] *= -1
    return out.reshape(np.shape(spins))


def _random_flips(spins, attacked):
    """``spins`` with as many random spins flipped as ``attacked`` has, lattice by lattice."""
    rng = np.random.default_rng(9)
    out = np.array(spins).reshape(len(spins), -1)
    for s, k in zip(out, np.sum(attacked != spins, axis=(1, 2)), strict=True):
        s[rng.choice(s.size, k, replace=False)] *= -1
    return out.reshape(np.shape(spins))


def _curve(value_at_01, clean):
    return np.array([clean, clean - 0.02, clean - 0.05, clean - 0.1, value_at_01, value_at_01 - 0.1, value_at_01 - 0.2])


_EXACT: dict[int, dict] = {}


def _exact(ctx):
    """The answers that take time to compute, once per module."""
    if id(ctx) in _EXACT:
        return _EXACT[id(ctx)]
    sent, kept = ctx.sent, ctx.kept
    attacked = _half_certificate(sent["attack"], CUT)
    delta = judge.energy_change(sent["attack"], attacked)
    return _EXACT.setdefault(
        id(ctx),
        {
            "pgd_ref": judge.pgd(sent["ref"], sent["x"], sent["y"], sent["eps_ref"], 10, seed=5).astype("float32"),
            "certificate_16": judge.certificate(sent["cert_16"], sent["cut"]),
            "certificate_24": judge.certificate(sent["cert_24"], sent["cut"]),
            "flip_linear": _greedy_linear(sent["lin_spins"], sent["lin"]["w"][:, 0], float(sent["lin"]["b"][0])),
            "flip_cnn": {"a": attacked, "z0": np.ones((len(attacked), 1)), "z": -np.ones((len(attacked), 1))},
            "energy_cost": judge.energy_change(sent["e_spins"], sent["e_attacked"]) / judge.energy_std(sent["e_T"]),
            "attacked": attacked,
            "flips": np.sum(attacked != sent["attack"], axis=(1, 2)),
            "k_cert": judge.certificate(sent["attack"], CUT),
            "cost_sigma": delta / judge.energy_std(kept["T_fresh"]),
            "log_suppression": -delta / kept["T_fresh"],
            "random_flipped": _random_flips(sent["attack"], attacked),
            "random_z": np.ones((len(attacked), 1)),
            "random_fooled": 0.0,
        },
    )


def _results(ctx, standard_pgd=0.6, robust_pgd=0.85):
    sent, kept = ctx.sent, ctx.kept
    x, y = sent["x"], sent["y"]
    return {
        **_exact(ctx),
        "fgsm_ref": kept["ref_fgsm"].astype("float32"),
        "clean": _probabilities(y, 0.97, 1),
        "noise": _probabilities(y, 0.95, 2),
        "fgsm_model": {"x": _within(x, 0.1, 3), "p": _probabilities(y, 0.75, 3)},
        "pgd_model": {"x": _within(x, 0.1, 4), "p": _probabilities(y, standard_pgd, 4)},
        "robust_clean_fresh": _probabilities(y, 0.96, 5),
        "robust_pgd_fresh": {"x": _within(x, 0.1, 6), "p": _probabilities(y, robust_pgd, 6)},
        "robust_transfer": _probabilities(y, max(robust_pgd, standard_pgd) + 0.05, 7),
        "pgd_judge": _probabilities(y, standard_pgd, 10),  # the networks on the judge's own PGD of them
        "robust_pgd_judge": _probabilities(y, robust_pgd, 11),
        "acc_fgsm": _curve(0.75, 0.97),
        "acc_pgd": _curve(standard_pgd, 0.97),
        "acc_noise": _curve(0.95, 0.97),
        "robust_clean": 0.96,
        "robust_pgd": _curve(robust_pgd, 0.96),
        "n_eval": 1000,
        "epsilons": EPSILONS,
        "cut": CUT,
        "spins_attack": sent["attack"],
        "T_attack": kept["T_fresh"],
    }


def _flat(results):
    """``results`` with {"x": attacked images, "p": the network's outputs on them} split into the two results: the
    attack's images come back from the sandbox, the outputs are the judge's runs of the saved network on them."""
    results = dict(results)
    for key, run in (("fgsm_model", "fgsm_p"), ("pgd_model", "pgd_p"), ("robust_pgd_fresh", "robust_pgd_p")):
        if isinstance(results.get(key), dict):
            results[key], results[run] = results[key]["x"], results[key]["p"]
    if isinstance(results.get("flip_cnn"), dict):
        flip = results["flip_cnn"]
        results["flip_cnn"], results["ising_z0"], results["ising_z"] = flip["a"], flip["z0"], flip["z"]
    return results


def _points(exercise, results, ctx):
    """The points of ``results`` (written as for :func:`_flat`)."""
    return exercise.points(_flat(results), ctx)


def test_exact_attacks_and_a_working_model_earn_every_point(prepared):
    exercise, ctx = prepared
    per_task = _points(exercise, _results(ctx), ctx)
    assert per_task == {"1": 2, "2": 2, "3": 2, "4": 1, "5": 2, "6": 1}


def test_the_reference_network_classifies_and_its_pgd_beats_its_fgsm(prepared):
    """The reference is a usable classifier (85 % on 300 images), and PGD-10 is clearly stronger than FGSM on it."""
    _, ctx = prepared
    ref, x, y = ctx.sent["ref"], ctx.sent["x"], ctx.sent["y"]
    clean = np.mean(np.argmax(judge.mlp_probabilities(ref, x), axis=1) == y)
    fgsm = np.mean(np.argmax(judge.mlp_probabilities(ref, ctx.kept["ref_fgsm"]), axis=1) == y)
    assert clean > 0.8 and fgsm > ctx.kept["ref_pgd_accuracy"] + 0.05


def test_input_gradient_of_the_reference_matches_a_finite_difference(prepared):
    _, ctx = prepared
    ref, x, y = ctx.sent["ref"], ctx.sent["x"][:3].astype(float), ctx.sent["y"][:3]
    grad = judge.mlp_input_gradient(ref, x, y)
    step = np.zeros_like(x)
    step[1, 14, 12] = 1e-5  # central difference: error O(h²) ≈ 1e-10 against gradients of 1e-3 and more

    def loss(images):
        return -np.sum(np.log(judge.mlp_probabilities(ref, images)[np.arange(3), y]))

    assert np.isclose((loss(x + step) - loss(x - step)) / 2e-5, grad[1, 14, 12], rtol=1e-5)


def test_fgsm_without_clipping_or_pgd_that_is_fgsm_lose_the_points_of_task_1(prepared):
    exercise, ctx = prepared
    x, y, eps = ctx.sent["x"], ctx.sent["y"], ctx.sent["eps_ref"]
    unclipped = x + eps * np.sign(judge.mlp_input_gradient(ctx.sent["ref"], x, y))
    assert _points(exercise, {**_results(ctx), "fgsm_ref": unclipped}, ctx)["1"] == 1
    wrong_sign = judge.fgsm(ctx.sent["ref"], x, y, -eps)
    assert _points(exercise, {**_results(ctx), "fgsm_ref": wrong_sign}, ctx)["1"] == 1
    assert _points(exercise, {**_results(ctx), "pgd_ref": ctx.kept["ref_fgsm"]}, ctx)["1"] == 1


def test_an_attack_that_does_not_hurt_or_made_up_curves_lose_the_points_of_task_2(prepared):
    exercise, ctx = prepared
    weak = _results(ctx, standard_pgd=0.9, robust_pgd=0.95)  # PGD no worse than noise: the attack does not work
    assert _points(exercise, weak, ctx)["2"] == 1
    made_up = {**_results(ctx), "acc_pgd": _curve(0.2, 0.97)}  # the notebook reports what the model does not do
    assert _points(exercise, made_up, ctx)["2"] == 1


def test_figures_measured_with_an_attack_that_does_nothing_earn_nothing(prepared):
    exercise, ctx = prepared
    x, y = ctx.sent["x"], ctx.sent["y"]
    results = _results(ctx)  # pgd returns its input: every "attacked" figure is the clean accuracy, and says so
    results.update(
        pgd_ref=x,
        pgd_model={"x": x, "p": results["clean"]},
        robust_pgd_fresh={"x": x, "p": results["robust_clean_fresh"]},
        acc_pgd=_curve(0.97, 0.97),
        robust_pgd=_curve(0.96, 0.96),
    )
    assert _points(exercise, results, ctx) == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2, "6": 1}
    assert np.mean(np.argmax(results["clean"], axis=1) == y) > 0.9


def test_a_model_robust_that_is_the_standard_model_loses_the_points_of_task_3(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results.update(
        robust_clean_fresh=results["clean"],
        robust_pgd_fresh=results["pgd_model"],
        robust_transfer=results["clean"],
        robust_pgd_judge=results["pgd_judge"],
    )
    assert _points(exercise, results, ctx)["3"] == 0  # the reported 0.85 does not describe it either
    masked = {**_results(ctx), "robust_transfer": _probabilities(ctx.sent["y"], 0.6, 8)}  # gradient masking
    assert _points(exercise, masked, ctx)["3"] == 1


def test_a_pgd_that_holds_back_on_model_robust_cannot_make_a_standard_network_robust(prepared):
    """The hole of a review: ``pgd`` returns its input when given ``model_robust`` (the images stay in the ε-ball, so
    its "PGD accuracy" is its clean accuracy) and ``model_robust`` is a second standard network, which resists the
    transfer images fairly well. Under the judge's own PGD it is as fragile as ``model``: task 3 earns nothing."""
    exercise, ctx = prepared
    x, y = ctx.sent["x"], ctx.sent["y"]
    results = _results(ctx)
    results.update(
        robust_clean_fresh=_probabilities(y, 0.96, 5),
        robust_pgd_fresh={"x": x, "p": _probabilities(y, 0.96, 5)},  # pgd(model_robust, ...) returned x
        robust_transfer=_probabilities(y, 0.8, 7),  # another network: the transfer check alone passes
        robust_pgd_judge=_probabilities(y, 0.62, 11),  # the judge's PGD of it: as fragile as model (0.6)
        robust_clean=0.96,
        robust_pgd=_curve(0.96, 0.96),  # what the holding-back pgd reports
    )
    verdicts = {v.name: v for v in exercise.judge(_flat(results), ctx) if v.task == "3"}
    assert _points(exercise, results, ctx)["3"] == 0
    assert "grader's own attack" in verdicts["adversarial_training_makes_the_model_robust"].message
    assert "grader's own PGD-10" in verdicts["reported_robustness_describes_model_robust"].message
    # the student's own figure alone would have passed both: the same results with the judge's PGD agreeing do
    assert _points(exercise, {**results, "robust_pgd_judge": _probabilities(y, 0.96, 11)}, ctx)["3"] == 2


def test_the_judges_pgd_is_the_pages_and_is_made_in_the_clean_sandbox(prepared, tmp_path):
    """Both networks are attacked by the clean sandbox's PGD-10 at ε = 0.1 (α = 2.5 ε / 10, seed 0) on the fresh
    images with their true labels: the inputs are the images and labels, the attack travels as the run's spec."""
    exercise, ctx = prepared
    for run, model in (("pgd_judge", "model"), ("robust_pgd_judge", "model_robust")):
        assert exercise.runs[run] == (model, "x", judge.JUDGE_PGD)
        attack = exercise.run_layers[model][run]
        assert attack == {"attack": "pgd", "eps": 0.1, "steps": 10, "step": 0.025, "seed": 0}
    meta = {"results": {f"model:{m}": {"ok": {"array": "a0"}} for m in exercise.models}}
    (tmp_path / "results.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "results.npz", a0=np.frombuffer(b"PK", dtype=np.uint8))  # the saved networks' bytes
    _, inputs = exercise.inputs_for_models(checks.Results(tmp_path), ctx)
    sent = inputs["model_robust"]["robust_pgd_judge"]
    assert np.array_equal(sent["x"], ctx.sent["x"]) and np.array_equal(sent["y"], ctx.sent["y"])


def test_a_certificate_rounded_down_loses_task_4(prepared):
    exercise, ctx = prepared
    sent = ctx.sent
    results = _results(ctx)
    for size in (16, 24):
        s = sent[f"cert_{size}"].astype(np.int64)
        results[f"certificate_{size}"] = np.maximum(
            0, np.floor((np.abs(s.sum(axis=(1, 2))) - sent["cut"] * size**2) / 2)
        )
    assert _points(exercise, results, ctx)["4"] == 0


def test_random_flips_or_an_attack_needing_the_certificate_lose_the_points_of_task_5(prepared):
    exercise, ctx = prepared
    sent = ctx.sent
    w, b = sent["lin"]["w"][:, 0].astype(float), float(sent["lin"]["b"][0])
    rng = np.random.default_rng(0)
    random = np.array(sent["lin_spins"]).reshape(len(sent["lin_spins"]), -1)
    for s in random:  # flip random up spins until z < 0: about 1.3 times the fewest flips
        for i in rng.permutation(np.flatnonzero(s > 0)):
            if s @ w + b < 0:
                break
            s[i] = -1
    results = {**_results(ctx), "flip_linear": random.reshape(sent["lin_spins"].shape)}
    assert _points(exercise, results, ctx)["5"] == 1
    like_the_cut = sent["attack"].reshape(len(sent["attack"]), -1).copy()
    for s, k in zip(like_the_cut, judge.certificate(sent["attack"], CUT), strict=True):
        s[np.flatnonzero(s == np.sign(s.sum()))[:k]] *= -1
    results = _results(ctx)
    results["flip_cnn"] = {**results["flip_cnn"], "a": like_the_cut.reshape(sent["attack"].shape)}
    assert _points(exercise, results, ctx)["5"] == 1
    results = {**_results(ctx), "random_fooled": 0.5}  # the CNN calls none of random_flipped disordered
    assert _points(exercise, results, ctx)["5"] == 1


def test_an_energy_cost_in_joules_or_reported_figures_that_do_not_fit_lose_task_6(prepared):
    exercise, ctx = prepared
    sent = ctx.sent
    in_joules = judge.energy_change(sent["e_spins"], sent["e_attacked"])
    assert _points(exercise, {**_results(ctx), "energy_cost": in_joules}, ctx)["6"] == 0
    results = _results(ctx)
    results["cost_sigma"] = results["cost_sigma"] * 2
    assert _points(exercise, results, ctx)["6"] == 0


def test_the_networks_outputs_on_the_attacked_images_are_the_judges_runs_of_the_saved_networks(prepared):
    """An attack's images come back; the saved network's outputs on them are the judge's, so a model whose predict
    lies about the attacked images cannot help. Missing images leave the network's other runs alone."""
    exercise, ctx = prepared
    assert exercise.runs["pgd_p"][0] == "model" and exercise.runs["robust_transfer"][0] == "model_robust"
    assert exercise.runs["ising_z"][0] == exercise.runs["random_z"][0] == "model_ising"
    assert not any("predict" in expression for expression in exercise.collect.values())
    images = exercise.runs["pgd_p"][1]({"pgd_model": ctx.sent["x"]}, ctx)
    assert images.shape == ctx.sent["x"].shape and images.dtype == np.float32
    assert exercise.runs["pgd_p"][1]({}, ctx).shape == (1, *ctx.sent["x"].shape[1:])
    results = _results(ctx)
    # the judge's run of the saved model on pgd's images: not fooled. Then the attack fails the criterion, and the
    # reported curve (a fooled model's) does not describe the network either
    results["pgd_model"] = {"x": results["pgd_model"]["x"], "p": results["clean"]}
    assert _points(exercise, results, ctx)["2"] == 0
