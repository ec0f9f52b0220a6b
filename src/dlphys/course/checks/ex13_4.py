"""Trusted checks of Exercise 13.4 — adversarial attacks on digits and on Ising lattices (10 points).

The judge has references it computes itself, without student code:

- a reference network of its own, a one-hidden-layer MLP (784 → 256 ReLU → 10 softmax) fitted in closed form to
  the notebook's MNIST training images (``reference_mlp``), whose input gradient it writes out in NumPy. The sandbox
  builds the same network in Keras from the weights it sends; the judge calls ``fgsm`` and ``pgd`` on it with fresh
  test images and an ε it draws, compares ``fgsm`` with its own FGSM pixel by pixel, and evaluates the reference
  network itself on the images ``pgd`` returns (they must stay in the ε-ball and in [0, 1] and lower the accuracy to
  at most 0.04 above what its own PGD-10 leaves);
- the student's ``model`` and ``model_robust`` on fresh test images (drawn with the grader's seed from the 1000
  test images the notebook never trains on), saved and run by the judge in a clean sandbox (as ``model_ising``
  below): their clean accuracy, their accuracy on the images the student's ``pgd`` makes against them and returns
  (checked for the ε-ball; the judge runs the saved network on them), on the judge's random ±ε noise, on the
  judge's own PGD-10 at ε = 0.1 (the page's attack, made in the clean sandbox on the saved network: ``JUDGE_PGD``),
  and ``model_robust`` on the PGD images of ``model`` (a transfer attack: masking the gradient does not pass it);
  the page's criteria, fast mode (in which grading runs): clean > 0.9, noise > 0.85, noise − PGD > 0.15; robust
  clean > 0.9 and robust PGD ≥ standard PGD + 0.08, both under the judge's PGD (an attack that holds back on
  ``model_robust`` cannot make it robust), robust on the transfer images ≥ standard PGD + 0.1 (full mode: 0.95,
  0.92, 0.2; robust clean > 0.95, robust PGD > 0.82); the reported curves at ε = 0.1 against these fresh figures
  within the binomial spread of two samples (3 σ + 0.03), counted only when ``pgd`` passes its check on the
  reference network (a reported figure measured with an attack that does not work earns nothing), and
  ``robust_pgd`` against both the student's and the judge's PGD of ``model_robust``;
- ``certificate`` against the exact ⌈(|M| − cN)/2⌉ on fresh lattices of two sizes and a cut it draws;
- ``flip_attack`` on a linear logit model of its own, z = k (Σ wᵢ sᵢ − c) with wᵢ > 0, whose smallest attack it
  knows (flip the up spins of largest weight first): every lattice must end with z < 0 using at most 5 % + 2
  flips more than that minimum, and lattices with z < 0 come back unchanged; and on the student's CNN with fresh
  ordered lattices at ``ATTACK_T``: ±1 lattices, at least 90 % of those the CNN and the cut call ordered end with
  z < 0, and their median flip count (counted by the judge) below 0.8 × the median certificate; ``random_flipped``
  has the attack's flip counts and ``random_fooled`` is recomputed from the CNN's outputs on it;
- ``energy_cost`` against ΔE/σ_E from its own energies and the exact σ_E on fresh lattice pairs, and the reported
  ``flips``, ``k_cert``, ``cost_sigma``, ``log_suppression`` recomputed from ``spins_attack`` and ``attacked``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from dlphys.course.checks import Exercise, array, number, returned
from dlphys.datasets import ising, mnist

N_IMAGES = 300  # fresh test images
HIDDEN = 256  # hidden units of the reference network
N_LINEAR = 30  # lattices for the linear reference model (10 at each of three temperatures)
N_FRESH_ATTACK = 10  # fresh lattices per attack temperature
LINEAR_SCALE, LINEAR_CUT = 10.0, 0.4  # z = k (Σ w s − c) of the linear reference

_REF_MODEL = (
    "(lambda k: (lambda m: (m.set_weights([inputs['ref']['W1'], inputs['ref']['b1'], inputs['ref']['W2'], "
    "inputs['ref']['b2']]), m)[1])(k.Sequential([k.Input((28, 28)), k.layers.Flatten(), "
    f"k.layers.Dense({HIDDEN}, activation='relu'), k.layers.Dense(10, activation='softmax')])))(__import__('keras'))"
)
_LINEAR_MODEL = (
    "(lambda k: (lambda m: (m.set_weights([inputs['lin']['w'], inputs['lin']['b']]), m)[1])(k.Sequential("
    "[k.Input((32, 32)), k.layers.Flatten(), k.layers.Dense(1)])))(__import__('keras'))"
)


JUDGE_PGD = {"attack": "pgd", "eps": 0.1, "steps": 10, "step": 2.5 * 0.1 / 10, "seed": 0, "labels": "y"}
"""The page's PGD-10 at ε = EPS_TRAIN (α = 2.5 ε / steps, seed 0), made by the clean sandbox on the saved network,
on the fresh images ``x`` with their true labels; the networks output probabilities (the page's cross-entropy)."""


def _images_like(key: str) -> Callable:
    """The run source of the attacked images ``key`` that came back: the saved network is run on them by the judge
    (their ε-ball is checked by the checks)."""
    return returned(key, lambda ctx: ctx.sent["x"].shape)


def _lattices_like(key: str, sent: str = "attack") -> Callable:
    return returned(key, lambda ctx: (None, *ctx.sent[sent].shape[1:]))


exercise = Exercise(
    "13_4_adversarial_attacks",
    # saved, and run by the judge in a clean sandbox: on its own images and lattices, and on the attacked ones
    # the student's attacks return
    models={"model": "model", "model_robust": "model_robust", "model_ising": "model_ising"},
    runs={
        "clean": ("model", "x"),
        "noise": ("model", "x_noise"),
        "robust_clean_fresh": ("model_robust", "x"),
        "fgsm_p": ("model", _images_like("fgsm_model")),
        "pgd_p": ("model", _images_like("pgd_model")),
        "robust_pgd_p": ("model_robust", _images_like("robust_pgd_fresh")),
        "robust_transfer": ("model_robust", _images_like("pgd_model")),  # model's PGD images: a transfer attack
        "pgd_judge": ("model", "x", JUDGE_PGD),  # the judge's own PGD of each saved network
        "robust_pgd_judge": ("model_robust", "x", JUDGE_PGD),
        "ising_z0": ("model_ising", lambda r, ctx: ctx.sent["attack"].astype("float32")),
        "ising_z": ("model_ising", _lattices_like("flip_cnn")),
        "random_z": ("model_ising", _lattices_like("random_flipped")),
    },
    collect={
        "fgsm_ref": f"fgsm({_REF_MODEL}, inputs['x'], inputs['y'], inputs['eps_ref'])",
        "pgd_ref": f"pgd({_REF_MODEL}, inputs['x'], inputs['y'], inputs['eps_ref'], 10)",
        "fgsm_model": "fgsm(model, inputs['x'], inputs['y'], 0.1)",
        "pgd_model": "pgd(model, inputs['x'], inputs['y'], 0.1, 10)",
        "robust_pgd_fresh": "pgd(model_robust, inputs['x'], inputs['y'], 0.1, 10)",
        "acc_fgsm": "acc_fgsm",
        "acc_pgd": "acc_pgd",
        "acc_noise": "acc_noise",
        "robust_clean": "robust_clean",
        "robust_pgd": "robust_pgd",
        "n_eval": "len(y_eval)",
        "epsilons": "EPSILONS",
        "certificate_16": "certificate(inputs['cert_16'], inputs['cut'])",
        "certificate_24": "certificate(inputs['cert_24'], inputs['cut'])",
        "flip_linear": f"flip_attack({_LINEAR_MODEL}, inputs['lin_spins'], 400)",
        "flip_cnn": "flip_attack(model_ising, inputs['attack'], MAX_FLIPS)",
        "cut": "cut",
        "energy_cost": "energy_cost(inputs['e_spins'], inputs['e_attacked'], inputs['e_T'])",
        "spins_attack": "spins_attack",
        "attacked": "attacked",
        "T_attack": "T_attack",
        "flips": "flips",
        "k_cert": "k_cert",
        "cost_sigma": "cost_sigma",
        "log_suppression": "log_suppression",
        "random_flipped": "random_flipped",
        "random_fooled": "random_fooled",
    },
)


# --------------------------------------------------------------------------------- the judge's own references
@lru_cache(maxsize=1)
def reference_mlp(seed: int = 0) -> dict:
    """The judge's network (784 → 256 ReLU → 10 softmax), fitted to the notebook's MNIST training images.

    Random ReLU features (fixed first layer) with a ridge-regression read-out to one-hot labels, the logits scaled
    by 10: a closed-form fit in a second, about 85 % test accuracy, and PGD-10 clearly stronger than FGSM at
    ε ≈ 0.03 (measured on 300 test images: 0.29 against 0.37).
    """
    (x_train, y_train), _, _ = mnist.load(subset=True)
    x = x_train.reshape(len(x_train), -1) / 255.0
    rng = np.random.default_rng(seed)
    w1 = 3.0 * rng.normal(size=(x.shape[1], HIDDEN)) / np.sqrt(x.shape[1])
    b1 = 0.5 * rng.normal(size=HIDDEN)
    h = np.maximum(x @ w1 + b1, 0.0)
    w2 = 10.0 * np.linalg.solve(h.T @ h + np.eye(HIDDEN), h.T @ np.eye(10)[y_train])
    return {k: v.astype("float32") for k, v in {"W1": w1, "b1": b1, "W2": w2, "b2": np.zeros(10)}.items()}


def mlp_probabilities(ref: dict, x) -> np.ndarray:
    """Class probabilities (n, 10) of the reference MLP for images (n, 28, 28) in [0, 1]."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    logits = np.maximum(x @ ref["W1"] + ref["b1"], 0) @ ref["W2"] + ref["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def mlp_input_gradient(ref: dict, x, y) -> np.ndarray:
    """∂L/∂x (n, 28, 28) of the cross-entropy of the reference MLP (backpropagation written out)."""
    flat = np.asarray(x, dtype=float).reshape(len(x), -1)
    pre = flat @ ref["W1"] + ref["b1"]
    delta = mlp_probabilities(ref, x)
    delta[np.arange(len(y)), y] -= 1.0  # ∂L/∂logits = p − onehot(y)
    return (((delta @ ref["W2"].T) * (pre > 0)) @ ref["W1"].T).reshape(np.shape(x))


def fgsm(ref: dict, x, y, eps: float) -> np.ndarray:
    return np.clip(x + eps * np.sign(mlp_input_gradient(ref, x, y)), 0.0, 1.0)


def pgd(ref: dict, x, y, eps: float, steps: int, seed: int = 0) -> np.ndarray:
    """PGD as the page defines it: α = 2.5 ε / steps, a uniform random start, projection after each step."""
    x = np.asarray(x, dtype=float)
    adv = np.clip(x + np.random.default_rng(seed).uniform(-eps, eps, x.shape), 0.0, 1.0)
    for _ in range(steps):
        adv = adv + 2.5 * eps / steps * np.sign(mlp_input_gradient(ref, adv, y))
        adv = np.clip(np.clip(adv, x - eps, x + eps), 0.0, 1.0)
    return adv


def certificate(spins, cut: float) -> np.ndarray:
    """The exact minimal flip count max(0, ⌈(|M| − cN)/2⌉) (n,) of the cut |m| > c."""
    s = np.asarray(spins, dtype=np.int64)
    n_sites = s.shape[-1] * s.shape[-2]
    return np.maximum(0, np.ceil((np.abs(s.sum(axis=(-2, -1))) - cut * n_sites) / 2)).astype(np.int64)


def linear_minimum(spins, w, b) -> np.ndarray:
    """Fewest flips (n,) that make z = Σ wᵢ sᵢ + b negative (flip the up spins of largest wᵢ first; w > 0)."""
    out = []
    for s in np.asarray(spins, dtype=float).reshape(len(spins), -1):
        z = s @ w + b
        gains = np.sort(2 * w[s > 0])[::-1]  # the drop of z per flip of an up spin, best first
        out.append(0 if z < 0 else int(np.searchsorted(np.cumsum(gains), z, side="right") + 1))
    return np.array(out)


def energy_std(temperature, size: int = 32) -> np.ndarray:
    """σ_E (J) of the total energy from Var(E) = ∂² ln Z/∂β² (second difference with a step of 1e-4 β)."""
    beta = 1.0 / np.asarray(temperature, dtype=float)
    h = 1e-4 * beta
    log_z = [ising.log_partition_function(1.0 / (beta + k * h), size) for k in (-1, 0, 1)]
    return np.sqrt((log_z[0] - 2 * log_z[1] + log_z[2]) / h**2)


def energy_change(spins, attacked) -> np.ndarray:
    """ΔE (J) (n,) of each pair of lattices (n, L, L)."""
    n_sites = np.shape(spins)[-1] * np.shape(spins)[-2]
    return (ising.energy_per_spin(np.asarray(attacked)) - ising.energy_per_spin(np.asarray(spins))) * n_sites


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    _, (x_test, y_test), _ = mnist.load(subset=True)
    pick = rng.choice(len(y_test), N_IMAGES, replace=False)
    x, y = (x_test[pick] / 255.0).astype("float32"), y_test[pick]
    x_noise = np.clip(x + 0.1 * rng.choice([-1.0, 1.0], size=x.shape), 0.0, 1.0).astype("float32")
    ref = reference_mlp()
    eps_ref = float(rng.uniform(0.025, 0.035))  # where PGD-10 is clearly stronger than FGSM on this network

    def lattices(temperatures, n, size):
        return ising.simulate(temperatures, n, size=size, seed=int(rng.integers(2**31)), progress=False)[0]

    cert_16 = lattices([1.5, 2.0, 2.3, 3.0], 5, 16)
    cert_24 = lattices([1.8, 2.2, 2.6], 5, 24)
    lin_spins = lattices([1.8, 2.1, 2.3], N_LINEAR // 3, 32)
    lin_spins = (lin_spins * np.where(lin_spins.sum(axis=(1, 2)) < 0, -1, 1)[:, None, None]).astype(np.int8)
    w = LINEAR_SCALE * (0.5 + rng.uniform(size=32 * 32)) / (32 * 32)
    b = -LINEAR_SCALE * LINEAR_CUT
    attack, T_fresh = ising.simulate(
        ctx.params["ATTACK_T"], N_FRESH_ATTACK, size=32, seed=int(rng.integers(2**31)), progress=False
    )
    e_T = rng.uniform(1.8, 2.8, 12)
    e_spins = lattices(e_T, 1, 32)
    e_attacked = e_spins.copy().reshape(len(e_T), -1)
    for row in e_attacked:
        row[rng.choice(row.size, int(rng.integers(1, 120)), replace=False)] *= -1
    sent = {
        "x": x,
        "y": y,
        "x_noise": x_noise,
        "ref": ref,
        "eps_ref": eps_ref,
        "cert_16": cert_16,
        "cert_24": cert_24,
        "cut": float(rng.uniform(0.2, 0.8)),
        "lin": {"w": w.astype("float32")[:, None], "b": np.array([b], dtype="float32")},
        "lin_spins": lin_spins,
        "attack": attack,
        "e_spins": e_spins,
        "e_attacked": e_attacked.reshape(e_spins.shape),
        "e_T": e_T,
    }
    kept = {
        "ref_fgsm": fgsm(ref, x, y, eps_ref),
        "ref_pgd_accuracy": float(np.mean(np.argmax(mlp_probabilities(ref, pgd(ref, x, y, eps_ref, 10)), 1) == y)),
        "lin_minimum": linear_minimum(lin_spins, w.astype("float32"), np.float32(b)),
        "T_fresh": T_fresh,
    }
    return sent, kept


# --------------------------------------------------------------------------------- helpers of the checks
def _images(value, x, eps, name) -> np.ndarray:
    """Attacked images of the shape of ``x``, inside the ε-ball around it and in [0, 1]."""
    adv = array(value, x.shape, name)
    far = float(np.max(np.abs(adv - x)))
    assert far <= eps + 1e-5, f"expected {name} within ε = {eps:.3f} of the images in L∞; it moved a pixel by {far:.4f}"
    assert adv.min() >= -1e-6 and adv.max() <= 1 + 1e-6, f"expected {name} with intensities in [0, 1]"
    return adv


def _accuracy(probabilities, y, name) -> float:
    p = array(probabilities, (len(y), 10), name)
    return float(np.mean(np.argmax(p, axis=1) == y))


def _attacked_accuracy(images, probabilities, x, y, eps, name) -> float:
    """The accuracy of the saved network (run by the judge) on the images an attack returned, once they are checked
    to lie in the ε-ball."""
    _images(images, x, eps, name)
    return _accuracy(probabilities, y, f"the predictions on {name}")


def _fresh_figures(r, ctx) -> dict:
    x, y = ctx.sent["x"], ctx.sent["y"]
    return {
        "clean": _accuracy(r["clean"], y, "model on fresh images"),
        "noise": _accuracy(r["noise"], y, "model on noisy images"),
        "fgsm": _attacked_accuracy(r["fgsm_model"], r["fgsm_p"], x, y, 0.1, "fgsm(model, ...)"),
        "pgd": _attacked_accuracy(r["pgd_model"], r["pgd_p"], x, y, 0.1, "pgd(model, ...)"),
    }


def _close(reported: float, fresh: float, n_reported: int) -> bool:
    """Two accuracies of one model on two samples agree within 3 binomial standard deviations + 0.03."""
    p = min(max(0.5 * (reported + fresh), 0.02), 0.98)
    return abs(reported - fresh) < 3 * np.sqrt(p * (1 - p) * (1 / n_reported + 1 / N_IMAGES)) + 0.03


def _at_01(r, name) -> float:
    epsilons = [float(e) for e in np.atleast_1d(array(r["epsilons"], name="EPSILONS"))]
    curve = array(r[name], (len(epsilons),), name)
    assert 0.1 in epsilons, "expected EPSILONS to contain 0.1, as the page gives it"
    return float(curve[epsilons.index(0.1)])


# --------------------------------------------------------------------------------- task 1: the attacks
@exercise.check(task="1", points=1)
def fgsm_is_the_fast_gradient_sign_method(r, ctx):
    x, eps = ctx.sent["x"], ctx.sent["eps_ref"]
    adv = _images(r["fgsm_ref"], x, eps, "fgsm(reference, ...)")
    agree = float(np.mean(np.abs(adv - ctx.kept["ref_fgsm"]) < 1e-4))
    assert agree > 0.98, (
        f"expected fgsm = clip(x + ε sign ∇ₓL, 0, 1) on a reference model of the grader's, at ε = {eps:.3f}; "
        f"{agree:.1%} of your pixels agree with that"
    )


@exercise.check(task="1", points=1)
def pgd_is_at_least_as_strong_as_the_graders(r, ctx):
    _pgd_is_strong(r, ctx)


def _pgd_is_strong(r, ctx) -> None:
    """The criterion of ``pgd`` on the reference network (figures recomputed with ``pgd`` count only if it holds)."""
    x, y, eps = ctx.sent["x"], ctx.sent["y"], ctx.sent["eps_ref"]
    adv = _images(r["pgd_ref"], x, eps, "pgd(reference, ...)")
    got = float(np.mean(np.argmax(mlp_probabilities(ctx.sent["ref"], adv), axis=1) == y))
    limit = ctx.kept["ref_pgd_accuracy"] + 0.04
    assert got <= limit, (
        f"expected pgd (10 steps, ε = {eps:.3f}) to bring a reference model of the grader's down to an accuracy of "
        f"at most {limit:.3f} on fresh images, as PGD does; with your pgd it keeps {got:.3f}"
    )


# --------------------------------------------------------------------------------- task 2: accuracy against ε
@exercise.check(task="2", points=1)
def pgd_fools_the_model_and_noise_does_not(r, ctx):
    f = _fresh_figures(r, ctx)
    clean, noise, gap = (0.9, 0.85, 0.15) if ctx.fast else (0.95, 0.92, 0.2)
    assert f["clean"] > clean, f"expected model's accuracy on fresh test images above {clean}; got {f['clean']:.3f}"
    assert f["noise"] > noise, f"expected model's accuracy under ±0.1 noise above {noise}; got {f['noise']:.3f}"
    assert f["noise"] - f["pgd"] > gap, (
        f"expected pgd at ε = 0.1 to lower model's accuracy at least {gap} below that under noise of the same size, "
        f"on fresh images; yours: PGD {f['pgd']:.3f}, noise {f['noise']:.3f}"
    )


@exercise.check(task="2", points=1)
def reported_curves_describe_the_model(r, ctx):
    _pgd_is_strong(r, ctx)  # the fresh figures below are measured with the student's pgd
    f = _fresh_figures(r, ctx)
    n = int(number(r["n_eval"], "len(y_eval)"))
    for name, key in (("acc_fgsm", "fgsm"), ("acc_pgd", "pgd"), ("acc_noise", "noise")):
        reported = _at_01(r, name)
        assert _close(reported, f[key], n), (
            f"expected {name} at ε = 0.1 to be model's accuracy under that perturbation; it says {reported:.3f}, "
            f"but on fresh test images it is {f[key]:.3f}"
        )
    first = [float(array(r[name], name=name).reshape(-1)[0]) for name in ("acc_fgsm", "acc_pgd", "acc_noise")]
    assert _close(first[0], f["clean"], n) and len(set(first)) == 1, (
        f"expected the three curves to start at the clean accuracy (ε = 0); they start at {first}"
    )


# --------------------------------------------------------------------------------- task 3: adversarial training
def _judge_pgd(r, ctx, run: str, network: str) -> float:
    """The accuracy of the saved ``network`` on the judge's own PGD-10 of the fresh images, made against it."""
    return _accuracy(r[run], ctx.sent["y"], f"{network} on the grader's PGD-10 images (ε = 0.1)")


@exercise.check(task="3", points=1)
def adversarial_training_makes_the_model_robust(r, ctx):
    y = ctx.sent["y"]
    clean = _accuracy(r["robust_clean_fresh"], y, "model_robust on fresh images")
    robust = _judge_pgd(r, ctx, "robust_pgd_judge", "model_robust")
    standard = _judge_pgd(r, ctx, "pgd_judge", "model")
    if ctx.fast:
        assert clean > 0.9, f"expected model_robust's clean accuracy above 0.9; got {clean:.3f}"
        assert robust >= standard + 0.08, (
            f"expected model_robust under PGD-10 at ε = 0.1 (the grader's own attack, on fresh images) at least 0.08 "
            f"above the standard model under the same attack; got {robust:.3f} against {standard:.3f}"
        )
    else:
        assert clean > 0.95, f"expected model_robust's clean accuracy above 0.95; got {clean:.3f}"
        assert robust > 0.82, (
            f"expected model_robust's accuracy under PGD-10 at ε = 0.1 (the grader's own attack, on fresh images) "
            f"above 0.82; got {robust:.3f}"
        )
    x = ctx.sent["x"]
    transfer = _accuracy(r["robust_transfer"], y, "model_robust on the PGD images of model")
    pgd_model = _attacked_accuracy(r["pgd_model"], r["pgd_p"], x, y, 0.1, "pgd(model, ...)")
    assert transfer >= pgd_model + 0.1, (
        f"expected model_robust to resist the PGD images made against model (a transfer attack); it classifies "
        f"{transfer:.3f} of them correctly, model {pgd_model:.3f}"
    )


@exercise.check(task="3", points=1)
def reported_robustness_describes_model_robust(r, ctx):
    _pgd_is_strong(r, ctx)  # the fresh figure of your pgd below counts only if it attacks the reference
    x, y = ctx.sent["x"], ctx.sent["y"]
    n = int(number(r["n_eval"], "len(y_eval)"))
    clean = number(r["robust_clean"], "robust_clean")
    fresh = _accuracy(r["robust_clean_fresh"], y, "model_robust on fresh images")
    assert _close(clean, fresh, n), (
        f"expected robust_clean to be model_robust's accuracy; it says {clean:.3f}, on fresh images it is {fresh:.3f}"
    )
    at = _at_01(r, "robust_pgd")
    yours = _attacked_accuracy(r["robust_pgd_fresh"], r["robust_pgd_p"], x, y, 0.1, "pgd(model_robust, ...)")
    judges = _judge_pgd(r, ctx, "robust_pgd_judge", "model_robust")
    for figure, how in ((yours, "your pgd"), (judges, "the grader's own PGD-10")):
        assert _close(at, figure, n), (
            f"expected robust_pgd at ε = 0.1 to be model_robust's accuracy under PGD-10; it says {at:.3f}, on fresh "
            f"images under {how} it is {figure:.3f}"
        )


# --------------------------------------------------------------------------------- task 4: the certificate
@exercise.check(task="4", points=1)
def certificate_is_the_exact_minimal_flip_count(r, ctx):
    cut = ctx.sent["cut"]
    for size in (16, 24):
        lattices = ctx.sent[f"cert_{size}"]
        got = array(r[f"certificate_{size}"], (len(lattices),), f"certificate on {size}×{size} lattices")
        wrong = int(np.sum(got != certificate(lattices, cut)))
        assert wrong == 0, (
            f"expected certificate = the fewest flips that bring |m| to the cut, on fresh {size}×{size} lattices with "
            f"a cut of {cut:.3f}; {wrong} of {len(lattices)} of yours differ from that"
        )


# --------------------------------------------------------------------------------- task 5: the spin-flip attack
def _lattices(value, shape, name) -> np.ndarray:
    out = array(value, shape, name)
    assert np.all(np.abs(out) == 1), f"expected {name} to hold spins ±1"
    return out


@exercise.check(task="5", points=1)
def flip_attack_finds_the_smallest_attack_on_a_linear_model(r, ctx):
    spins, lin = ctx.sent["lin_spins"], ctx.sent["lin"]
    attacked = _lattices(r["flip_linear"], spins.shape, "flip_attack(linear model, ...)")
    z = attacked.reshape(len(spins), -1) @ lin["w"][:, 0].astype(float) + float(lin["b"][0])
    flips = np.sum(attacked != spins, axis=(1, 2))
    minimum = ctx.kept["lin_minimum"]
    assert np.all(flips[minimum == 0] == 0), "expected flip_attack to return lattices with z < 0 unchanged"
    assert np.all(z < 1e-4), (
        f"expected every lattice to end with z < 0 on a linear model; {int(np.sum(z >= 1e-4))} do not"
    )
    excess = flips - minimum
    allowed = np.floor(0.05 * minimum) + 2
    assert np.all(excess <= allowed), (
        f"expected flip_attack to need about the fewest flips on a linear model z = Σ wᵢsᵢ + b (up to 5 % + 2 more); "
        f"yours used up to {int(excess.max())} more than that"
    )


@exercise.check(task="5", points=1)
def flip_attack_fools_the_cnn_with_fewer_flips_than_the_certificate(r, ctx):
    spins = ctx.sent["attack"]
    attacked = _lattices(r["flip_cnn"], spins.shape, "flip_attack(model_ising, ...)")
    z0 = array(r["ising_z0"], (len(spins), 1), "model_ising's logits")[:, 0]
    z = array(r["ising_z"], (len(spins), 1), "model_ising's logits on the attacked lattices")[:, 0]
    cut = number(r["cut"], "cut")
    assert 0.2 < cut < 0.9, f"expected cut to be a value of |m| that separates the phases; got {cut:.3f}"
    ordered = (z0 > 0) & (ising.magnetization(spins, absolute=True) > cut)
    assert ordered.sum() >= len(spins) // 2, (
        f"expected model_ising to call most fresh lattices at {ctx.params['ATTACK_T']} J/k_B ordered; it calls "
        f"{int(np.sum(z0 > 0))} of {len(spins)} ordered"
    )
    fooled = float(np.mean(z[ordered] < 0))
    assert fooled >= 0.9, f"expected flip_attack to fool model_ising on 90 % of fresh ordered lattices; {fooled:.1%}"
    flips = np.median(np.sum(attacked != spins, axis=(1, 2))[ordered])
    bound = np.median(certificate(spins[ordered], cut))
    assert flips < 0.8 * bound, (
        f"expected the CNN to be fooled with fewer flips than the |m| cut needs (median below 0.8 × its certificate) "
        f"on fresh lattices; median flips {flips:.0f}, median certificate {bound:.0f}"
    )
    # the reference of the notebook: as many random flips as the attack used, and the share of them that fools
    original = _lattices(r["spins_attack"], None, "spins_attack")
    counts = np.sum(_lattices(r["attacked"], original.shape, "attacked") != original, axis=(1, 2))
    randomised = _lattices(r["random_flipped"], original.shape, "random_flipped")
    assert np.array_equal(np.sum(randomised != original, axis=(1, 2)), counts), (
        "expected random_flipped to differ from spins_attack in as many spins as attacked does, lattice by lattice"
    )
    z_random = array(r["random_z"], (len(original), 1), "model_ising's logits on random_flipped")[:, 0]
    reported = number(r["random_fooled"], "random_fooled")
    assert abs(reported - np.mean(z_random < 0)) < 1e-6, (
        f"expected random_fooled = the share of random_flipped that model_ising calls disordered; it says "
        f"{reported:.3f}"
    )


# --------------------------------------------------------------------------------- task 6: the energy cost
@exercise.check(task="6", points=1)
def energy_cost_and_the_reported_figures_are_recomputed(r, ctx):
    s, a, t = ctx.sent["e_spins"], ctx.sent["e_attacked"], ctx.sent["e_T"]
    got = array(r["energy_cost"], (len(t),), "energy_cost on fresh pairs")
    reference = energy_change(s, a) / energy_std(t)
    assert np.allclose(got, reference, rtol=1e-3, atol=1e-6), (
        "expected energy_cost = ΔE/σ_E(T) with the exact σ_E of a 32×32 lattice, on fresh lattice pairs; yours "
        f"differs by up to {float(np.max(np.abs(got - reference))):.4f} σ_E"
    )
    spins = _lattices(r["spins_attack"], None, "spins_attack")
    n = len(spins)
    attacked = _lattices(r["attacked"], spins.shape, "attacked")
    temperatures = array(r["T_attack"], (n,), "T_attack")
    flips = array(r["flips"], (n,), "flips")
    assert np.array_equal(flips, np.sum(attacked != spins, axis=(1, 2))), "expected flips counted from attacked"
    cut = number(r["cut"], "cut")
    assert np.array_equal(array(r["k_cert"], (n,), "k_cert"), certificate(spins, cut)), "expected k_cert exact"
    delta = energy_change(spins, attacked)
    for name, value in (("cost_sigma", delta / energy_std(temperatures)), ("log_suppression", -delta / temperatures)):
        reported = array(r[name], (n,), name)
        assert np.allclose(reported, value, rtol=1e-3, atol=1e-6), (
            f"expected {name} recomputed from spins_attack, attacked and T_attack as the page defines it; yours "
            f"differs by up to {float(np.max(np.abs(reported - value))):.3g}"
        )
