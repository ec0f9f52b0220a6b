"""Trusted checks of Exercise 18.2 — air-shower footprints from a Wasserstein GAN (10 points).

The judge simulates fresh showers with :mod:`dlphys.datasets.airshower` and compares the distributions of
``generate`` with fresh seeds against them. ``critic_loss`` is called on critics whose weights the judge chooses (a
linear one and a small tanh network), so that the judge can compute their scores and input gradients in NumPy and
with them the Wasserstein estimate and the gradient penalty. ``footprint_observables`` is compared with the judge's
own on fresh footprints. The bounds on ``generate`` are the page's: 1-D Wasserstein distances to fresh simulated
showers below 5 stations (number of triggered stations) and below 0.4 dex (log10 of the total signal), for
footprints that are not training footprints (novelty ratio above 0.5: ``dlphys.checking.novelty_ratio`` against the
page's training set, which the judge simulates again from the notebook's parameters).
"""

import numpy as np

from dlphys.checking import footprint_distances, novelty_ratio
from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import airshower

_PROBE = (
    "(lambda m: (m.set_weights([inputs['w1'], inputs['b1'], inputs['w2'], inputs['b2']]), m)[1])(keras.Sequential("
    "[keras.Input((9, 9, 1)), keras.layers.Flatten(), keras.layers.Dense(16, activation='tanh'), "
    "keras.layers.Dense(1)]))"
)
_LINEAR = (
    "(lambda m: (m.set_weights([inputs['w_linear']]), m)[1])(keras.Sequential("
    "[keras.Input((9, 9, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]))"
)
_REAL, _FAKE = "tf.constant(inputs['real'])", "tf.constant(inputs['fake'])"

exercise = Exercise(
    "18_2_wgan_airshowers",
    # saved, and run by the judge in a clean sandbox
    models={"generator": "generator", "critic": "critic", "model": "model"},
    runs={
        "maps": ("generator", "z"),
        "model_maps": ("model", "z"),
        "scores": ("critic", "x"),
        "score_one": ("critic", lambda r, ctx: ctx.sent["x"][:1]),
        "maps_fresh": ("generator", "z_fresh"),
    },
    collect={
        "critic_layers": "[type(layer).__name__ for layer in critic.layers]",
        "loss_same": f"[float(v) for v in critic_loss({_PROBE}, {_REAL}, {_REAL})]",
        "loss_linear": f"[float(v) for v in critic_loss({_LINEAR}, {_REAL}, {_FAKE})]",
        "loss_probe": f"[float(v) for v in critic_loss({_PROBE}, {_REAL}, {_FAKE})]",
        "loss_probe_again": f"[float(v) for v in critic_loss({_PROBE}, {_REAL}, {_FAKE})]",
        "generate_a": "[generate(300, seed=int(inputs['seed_a'])) for _ in range(2)]",
        "generate_b": "generate(300, seed=int(inputs['seed_a']) + 1)",
        "generate_fresh": "generate(1000, seed=int(inputs['seed_fresh']))",
        "g_optimizer": (
            "{'adam': isinstance(g_optimizer, keras.optimizers.Adam), "
            "'beta_1': float(g_optimizer.beta_1), 'beta_2': float(g_optimizer.beta_2), "
            "'iterations': int(g_optimizer.iterations)}"
        ),
        "g_schedule": (
            "(lambda c: {'kind': c['class_name'], 'initial': float(c['config']['initial_learning_rate']), "
            "'decay_steps': float(c['config']['decay_steps']), 'alpha': float(c['config']['alpha'])} "
            "if isinstance(c, dict) and c.get('class_name') == 'CosineDecay' else {'kind': type(c).__name__})"
            "(g_optimizer.get_config()['learning_rate'])"
        ),
        "critic_losses": "critic_losses",
        "observables": "footprint_observables(inputs['footprints'])",
        "observables_toy": "footprint_observables(inputs['toy'])",
    },
)


def _observables(signal):
    """The judge's footprint_observables."""
    signal = np.asarray(signal, dtype=float)
    positions = airshower.station_positions()
    total = signal.sum(axis=(1, 2))
    weights = signal / np.where(total > 0, total, 1.0)[:, None, None]
    centre = np.einsum("nij,ijk->nk", weights, positions)
    distance = np.linalg.norm(positions[None] - centre[:, None, None, :], axis=-1)
    triggered = signal > 0
    return {
        "n_triggered": triggered.sum(axis=(1, 2)),
        "total_signal": total,
        "distance": distance[triggered],
        "station_signal": signal[triggered],
        "signal_fraction": weights[triggered],
    }


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    rng = ctx.rng
    latent = p["LATENT_DIM"]
    direction = rng.standard_normal((81, 1))
    seeds = rng.integers(10_000, 2**31, size=3)
    simulated = airshower.simulate(1000, seed=int(seeds[2]))["signal"]
    toy = np.zeros((3, 9, 9))
    toy[0, 4, 4], toy[0, 4, 5] = 30.0, 10.0
    toy[1, 2, 2] = 5.0
    toy[2, rng.integers(0, 9, 4), rng.integers(0, 9, 4)] = rng.uniform(3, 300, 4)
    sent = {
        "z": rng.standard_normal((64, latent)).astype("float32"),
        "x": rng.standard_normal((32, 9, 9, 1)).astype("float32"),
        "real": rng.standard_normal((16, 9, 9, 1)).astype("float32"),
        "fake": (rng.standard_normal((16, 9, 9, 1)) + rng.uniform(0.5, 1.5)).astype("float32"),
        "w1": (0.3 * rng.standard_normal((81, 16))).astype("float32"),
        "b1": (0.1 * rng.standard_normal(16)).astype("float32"),
        "w2": (0.5 * rng.standard_normal((16, 1))).astype("float32"),
        "b2": (0.1 * rng.standard_normal(1)).astype("float32"),
        "w_linear": (rng.uniform(0.2, 3.0) * direction / np.linalg.norm(direction)).astype("float32"),
        "seed_a": np.array(int(seeds[0])),
        "seed_fresh": np.array(int(seeds[1])),
        "z_fresh": np.random.default_rng(int(seeds[1])).standard_normal((1000, latent)).astype("float32"),
        "footprints": simulated[:50],
        "toy": toy,
    }
    training = airshower.simulate(p["N_TRAIN"] + p["N_TEST"], seed=0)["signal"][: p["N_TRAIN"]]  # the page's
    u = np.log10(np.maximum(training, 3.0) / 3.0)  # the page's encode: its U_MEAN and U_SD
    return sent, {"simulated": simulated, "training": training, "u_mean": u.mean(), "u_sd": u.std()}


def _probe(ctx, x):
    """Scores (n,) and input gradients (n, 81) of the judge's tanh critic."""
    s = ctx.sent
    w1, b1, w2, b2 = (np.asarray(s[k], dtype=np.float64) for k in ("w1", "b1", "w2", "b2"))
    h = np.tanh(np.asarray(x, dtype=np.float64).reshape(len(x), -1) @ w1 + b1)
    return (h @ w2 + b2)[:, 0], ((1 - h**2) * w2[:, 0]) @ w1.T


def _pair(value, name):
    pair = array(value, (2,), f"critic_loss(...) for {name}")
    return float(pair[0]), float(pair[1])


def _signals(value, n, name):
    signal = array(value, (n, 9, 9), name)
    assert np.all((signal == 0) | (signal >= 3.0 - 1e-3)), f"expected 0 VEM (silent) or at least 3 VEM in {name}"
    return signal


# ----------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def generator_maps_latent_vectors_to_footprint_maps(r, ctx):
    n = len(ctx.sent["z"])
    array(r["maps"], (n, 9, 9, 1), "generator.predict(z)")


@exercise.check(task="1", points=1)
def critic_scores_each_footprint_on_its_own(r, ctx):
    x = ctx.sent["x"]
    scores = array(r["scores"], (len(x), 1), "critic.predict(x)")
    one = array(r["score_one"], (1, 1), "critic.predict(x[:1])")
    assert np.allclose(one, scores[:1], rtol=1e-4, atol=1e-5), (
        "expected the critic to score a footprint independently of the rest of the batch"
    )
    assert "BatchNormalization" not in list(r["critic_layers"]), "expected no BatchNormalization in the critic"


# ----------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def critic_loss_is_the_penalty_when_real_equals_fake(r, ctx):
    loss, wasserstein = _pair(r["loss_same"], "real = fake")
    _, grad = _probe(ctx, ctx.sent["real"])
    penalty = np.mean((np.linalg.norm(grad, axis=1) - 1) ** 2)
    assert abs(wasserstein) < 1e-5, f"expected a Wasserstein estimate of 0 when real = fake, got {wasserstein:.2e}"
    assert np.isclose(loss, ctx.params["GP_WEIGHT"] * penalty, rtol=1e-3, atol=1e-5), (
        f"expected L_D = GP_WEIGHT × mean (|∇D| − 1)² when real = fake (a tanh critic), got {loss:.5f}"
    )


@exercise.check(task="2", points=1)
def critic_loss_of_a_linear_critic(r, ctx):
    loss, wasserstein = _pair(r["loss_linear"], "a linear critic")
    w = np.asarray(ctx.sent["w_linear"], dtype=np.float64)[:, 0]
    real = ctx.sent["real"].reshape(16, -1).astype(np.float64)
    fake = ctx.sent["fake"].reshape(16, -1).astype(np.float64)
    expected = float(np.mean(real @ w) - np.mean(fake @ w))
    assert np.isclose(wasserstein, expected, rtol=1e-4, atol=1e-5), (
        f"expected the Wasserstein estimate mean D(real) − mean D(fake), got {wasserstein:.5f}"
    )
    loss_expected = -expected + ctx.params["GP_WEIGHT"] * (np.linalg.norm(w) - 1) ** 2
    assert np.isclose(loss, loss_expected, rtol=1e-4, atol=1e-4), (
        f"expected L_D = −W + GP_WEIGHT (|w| − 1)² for a linear critic D(x) = w·x, got {loss:.5f}"
    )


@exercise.check(task="2", points=1)
def critic_loss_penalises_the_gradient_between_real_and_fake(r, ctx):
    loss, wasserstein = _pair(r["loss_probe"], "a tanh critic")
    real, fake = ctx.sent["real"].astype(np.float64), ctx.sent["fake"].astype(np.float64)
    expected = float(np.mean(_probe(ctx, real)[0]) - np.mean(_probe(ctx, fake)[0]))
    assert np.isclose(wasserstein, expected, rtol=1e-4, atol=1e-5), (
        f"expected the Wasserstein estimate mean D(real) − mean D(fake), got {wasserstein:.5f}"
    )
    eps = np.linspace(0.0, 1.0, 401)
    x_hat = eps[:, None, None] * real.reshape(1, 16, -1) + (1 - eps[:, None, None]) * fake.reshape(1, 16, -1)
    per = np.stack([(np.linalg.norm(_probe(ctx, x)[1], axis=1) - 1) ** 2 for x in x_hat])  # (eps, sample)
    low, high = per.min(axis=0).mean(), per.max(axis=0).mean()
    penalty = (loss + wasserstein) / ctx.params["GP_WEIGHT"]
    assert low * (1 - 1e-3) - 1e-6 <= penalty <= high * (1 + 1e-3) + 1e-6, (
        "expected L_D = −W + GP_WEIGHT × mean (|∇D(x̂)| − 1)² at points x̂ between each real and fake footprint"
    )
    # ε ~ U(0, 1) is drawn anew in every call (from seed_generator): the points x̂, and so the penalty, change
    loss_again, wasserstein_again = _pair(r["loss_probe_again"], "a tanh critic, called again")
    again = (loss_again + wasserstein_again) / ctx.params["GP_WEIGHT"]
    assert not np.isclose(again, penalty, rtol=1e-6, atol=0.0), (
        "expected a fresh ε ~ U(0, 1) per sample in every call of critic_loss (drawn with seed_generator): two calls "
        f"gave the same gradient penalty {penalty:.6f}"
    )


# ----------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def generate_returns_signals_of_its_seed(r, ctx):
    a = r["generate_a"]
    assert isinstance(a, np.ndarray) and a.shape == (2, 300, 9, 9), (
        f"expected generate(300, seed) to return a NumPy array (300, 9, 9), got {np.shape(a)[1:]}"
    )
    a = _signals(a.reshape(-1, 9, 9), 600, "generate(300, seed)").reshape(2, 300, 9, 9)
    assert np.array_equal(a[0], a[1]), "expected the same footprints for the same seed"
    b = _signals(r["generate_b"], 300, "generate(300, seed)")
    assert not np.array_equal(a[0], b), "expected other footprints for another seed"
    array(r["model_maps"], (len(ctx.sent["z"]), 9, 9, 1), "model.predict(z)")


@exercise.check(task="3", points=1)
def generator_optimizer_and_critic_losses(r, ctx):
    p = ctx.params
    opt = r["g_optimizer"]
    assert isinstance(opt, dict) and bool(opt["adam"]), "expected g_optimizer to be keras.optimizers.Adam"
    settings = {k: number(opt[k], f"g_optimizer.{k}") for k in ("beta_1", "beta_2")}
    assert np.allclose(list(settings.values()), [0.5, 0.9], rtol=1e-5), (
        f"expected g_optimizer with the betas of c_optimizer, got {settings}"
    )
    steps = p["N_TRAIN"] // p["BATCH_SIZE"]
    schedule = r["g_schedule"]
    assert isinstance(schedule, dict) and schedule.get("kind") == "CosineDecay", (
        f"expected g_optimizer's learning rate to be the page's CosineDecay schedule, got {schedule.get('kind')}"
    )
    rates = {k: number(schedule[k], f"the schedule's {k}") for k in ("initial", "alpha", "decay_steps")}
    assert np.allclose([rates["initial"], rates["alpha"]], [p["LEARNING_RATE"], p["LR_FLOOR"]], rtol=1e-5), (
        f"expected the schedule to start at LEARNING_RATE and end at LR_FLOOR × LEARNING_RATE, got {rates}"
    )
    generator_updates = p["EPOCHS"] * steps // p["CRITIC_STEPS"]
    assert abs(rates["decay_steps"] - generator_updates) <= p["EPOCHS"], (
        f"expected the schedule to decay over the generator's updates, got decay_steps = {rates['decay_steps']:.0f}"
    )
    updates = int(number(opt["iterations"], "g_optimizer.iterations"))
    low, high = p["EPOCHS"] * (steps // p["CRITIC_STEPS"]), p["EPOCHS"] * steps // p["CRITIC_STEPS"] + p["EPOCHS"]
    assert low <= updates <= high, (
        f"expected one generator update per {p['CRITIC_STEPS']} critic updates with g_optimizer, got {updates} updates"
    )
    losses = array(r["critic_losses"], name="critic_losses").reshape(-1)
    assert losses.size == p["EPOCHS"] * steps, (
        f"expected EPOCHS × steps_per_epoch = {p['EPOCHS'] * steps} critic losses, got {losses.size}"
    )


def _generated(r, ctx):
    """generate(1000, seed) of a fresh seed: refused unless it decodes the generator's maps of the page's latent
    vectors, or if it returns training footprints (the page's novelty ratio)."""
    made = _signals(r["generate_fresh"], 1000, "generate(1000, seed)")
    maps = array(r["maps_fresh"], (1000, 9, 9, 1), "generator.predict(z)")[..., 0]
    u = maps * ctx.kept["u_sd"] + ctx.kept["u_mean"]
    decoded = np.where(u > 1e-4, 3.0 * 10.0**u, 0.0)  # the page's inverse of encode, U_SILENT = 1e-4
    same = (decoded > 0) == (made > 0)
    close = np.isclose(made, decoded, rtol=1e-3, atol=0.0) | ~same
    assert same.mean() > 0.99 and close.all(), (
        "expected generate(n, seed) to give the generator's footprints for z = np.random.default_rng(seed)"
        f".standard_normal((n, LATENT_DIM)); {100 * (1 - (same & close).mean()):.1f} % of the stations differ"
    )
    novelty = novelty_ratio(made, ctx.kept["training"], ctx.kept["simulated"])
    assert novelty > 0.5, (
        f"expected footprints made by the generator, not training footprints: novelty ratio {novelty:.2f} (the "
        "distance to the nearest training footprint relative to that of fresh simulated showers)"
    )
    return made


# The page's criteria (markdown of `generate` and of the second grading cell), on fresh showers; both need new
# footprints (a generate that returns training footprints reproduces every distribution).
@exercise.check(task="3", points=1)
def triggered_stations_are_distributed_like_the_simulation(r, ctx):
    made = _generated(r, ctx)
    distance = footprint_distances(made, ctx.kept["simulated"])["n_triggered"]
    assert distance < 5.0, (
        f"expected the triggered-station counts within 5 stations of fresh simulated showers (1-D Wasserstein), got "
        f"{distance:.2f}"
    )


@exercise.check(task="3", points=1)
def total_signals_are_distributed_like_the_simulation(r, ctx):
    made = _generated(r, ctx)
    distance = footprint_distances(made, ctx.kept["simulated"])["log10_total_signal"]
    assert distance < 0.4, (
        f"expected log10(total signal) within 0.4 dex of fresh simulated showers (1-D Wasserstein), got {distance:.3f}"
    )


# ----------------------------------------------------------------------------------------------- task 6
@exercise.check(task="6", points=1)
def footprint_observables_match_on_fresh_footprints(r, ctx):
    for name, key in (("toy footprints", "observables_toy"), ("fresh simulated footprints", "observables")):
        got, expected = r[key], _observables(ctx.sent["toy" if key == "observables_toy" else "footprints"])
        assert isinstance(got, dict) and set(expected) <= set(got), (
            f"expected a dict with the keys {sorted(expected)} for {name}"
        )
        for field, value in expected.items():
            values = array(got[field], name=f"{field!r} of {name}").reshape(-1)
            assert values.shape == value.shape, (
                f"expected {value.size} values of {field!r} for {name} (one per footprint or triggered station), "
                f"got {values.size}"
            )
            assert np.allclose(values, value, rtol=1e-6, atol=1e-6), f"expected the right {field!r} for {name}"
