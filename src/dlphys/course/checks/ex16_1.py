"""Trusted checks of Exercise 16.1 — Zachary's karate club with a graph convolutional network (10 points).

The judge builds the club, its four Louvain communities, the known members and ``a_filter`` itself (NetworkX and
NumPy, no TensorFlow) and reads the student's network only through its predictions on these inputs: on the club as
the notebook numbers it, on the club with its members relabelled by a random permutation (a graph convolution
must relabel its output the same way). In task (5) the accuracies the student reports are recomputed from the
predictions of the student's networks ``gcn_draws`` and from ``spread_labels`` on the student's draws, and
``spread_labels`` and ``train_gcn`` are called on known members drawn with the grader's seed. Label spreading is
recomputed with scikit-learn (``alpha=0.2``, as the page states).
"""

import networkx as nx
import numpy as np
from networkx.algorithms.community import louvain_communities
from sklearn.semi_supervised import LabelSpreading

from dlphys.course.checks import Exercise, array, number

_X = "[inputs['features'], inputs['a_filter']]"

exercise = Exercise(
    "16_1_karate_gcn",
    collect={
        "n_gcn": "sum(isinstance(layer, GCNConv) for layer in model.layers)",
        "is_tf_keras": "isinstance(model, tf_keras.Model)",
        "probs": f"model.predict({_X}, batch_size=34, verbose=0)",
        "probs_relabelled": (
            "model.predict([inputs['features_perm'], inputs['a_filter_perm']], batch_size=34, verbose=0)"
        ),
        "embedding_now": (
            f"tf_keras.Model(model.inputs, model.get_layer('embedding').output).predict({_X}, batch_size=34, verbose=0)"
        ),
        "fresh": (
            "(lambda m: {'new': m is not model, 'compiled': m.optimizer is not None, 'params': m.count_params(), "
            "'model_params': model.count_params(), 'embedding': int(m.get_layer('embedding').output.shape[-1]), "
            f"'probs': m.predict({_X}, batch_size=34, verbose=0)}})(build_model())"
        ),
        "history": "history",
        "embeddings": "embeddings",
        "y_pred": "y_pred",
        "accuracy": "accuracy",
        "y_baseline": "y_baseline",
        "accuracy_baseline": "accuracy_baseline",
        "accuracy_draws": "accuracy_draws",
        "known_draws": "known_draws",
        "gcn_own": f"[net.predict({_X}, batch_size=34, verbose=0) for net in gcn_draws]",
        "spread_own": "[spread_labels(chosen) for chosen in known_draws]",
        # the student's two functions on the grader's draws of known members
        "spread_fresh": "[spread_labels(chosen) for chosen in inputs['draws']]",
        "gcn_fresh": (
            f"[train_gcn(chosen, int(seed)).predict({_X}, batch_size=34, verbose=0) "
            "for chosen, seed in zip(inputs['draws'], inputs['seeds'])]"
        ),
    },
)


def _club(seed: int):
    """The notebook's club: labels (34,), groups, known members, test members, adjacency (float32)."""
    graph = nx.karate_club_graph()
    groups = sorted(louvain_communities(graph, weight=None, seed=seed), key=min)
    labels = np.zeros(graph.number_of_nodes(), dtype=int)
    for group, members in enumerate(groups):
        labels[sorted(members)] = group
    degree = dict(graph.degree())
    known = np.array([max(members, key=lambda node: degree[node]) for members in groups])
    x_test = np.setdiff1d(np.arange(len(labels)), known)
    adjacency = nx.to_numpy_array(graph, weight=None, dtype=np.float64)
    return labels, groups, known, x_test, adjacency


def _gcn_filter(adjacency):
    """D^-1/2 (A + I) D^-1/2 (spektral.utils.gcn_filter), float32."""
    a_hat = adjacency + np.eye(len(adjacency))
    d = 1.0 / np.sqrt(a_hat.sum(axis=1))
    return (d[:, None] * a_hat * d[None, :]).astype("float32")


def _label_spreading(adjacency, known, labels):
    start = np.full(len(labels), -1)
    start[known] = labels[known]

    def kernel(u, v):
        return adjacency[u[:, 0].astype(int)][:, v[:, 0].astype(int)]

    spreading = LabelSpreading(kernel=kernel, alpha=0.2, max_iter=1000)
    return spreading.fit(np.arange(len(labels))[:, None], start).transduction_


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    labels, groups, known, x_test, adjacency = _club(ctx.params["COMMUNITY_SEED"])
    n = len(labels)
    a_filter = _gcn_filter(adjacency)
    features = np.eye(n, dtype="float32")
    perm = rng.permutation(n)  # member i of the relabelled club is member perm[i] of the notebook's
    draws = np.array([[rng.choice(sorted(members)) for members in groups] for _ in range(ctx.params["N_DRAWS"])])
    sent = {
        "features": features,
        "a_filter": a_filter,
        "features_perm": features[perm],
        "a_filter_perm": a_filter[perm][:, perm],
        "draws": draws,
        "seeds": rng.integers(0, 2**31 - 1, size=len(draws)),
    }
    kept = {
        "labels": labels,
        "known": known,
        "x_test": x_test,
        "perm": perm,
        "draws": draws,
        "spreading": _label_spreading(adjacency, known, labels),
        "spreading_draws": [_label_spreading(adjacency, chosen, labels) for chosen in draws],
    }
    return sent, kept


def _probs(value, n, name):
    probs = array(value, (n, 4), name)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4), f"expected softmax probabilities adding up to 1 in {name}"
    return probs


def _accuracy(pred, ctx):
    x_test = ctx.kept["x_test"]
    return float(np.mean(pred[x_test] == ctx.kept["labels"][x_test]))


# ----------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def model_is_a_spektral_graph_network(r, ctx):
    assert bool(r["is_tf_keras"]), "expected `model` to be a tf-keras (spektral) model"
    n_gcn = int(number(r["n_gcn"], "the number of GCNConv layers"))
    assert n_gcn == 2, f"expected two spektral GCNConv layers, got {n_gcn}"
    n = len(ctx.kept["labels"])
    probs = _probs(r["probs"], n, "model.predict(inputs)")
    relabelled = _probs(r["probs_relabelled"], n, "the prediction for the relabelled club")
    assert np.allclose(relabelled, probs[ctx.kept["perm"]], atol=1e-4), (
        "expected a graph network of [features, a_filter]: relabelling the members of the club (features and "
        "a_filter permuted alike) must relabel the predictions the same way"
    )


@exercise.check(task="1", points=1)
def build_model_returns_a_new_compiled_network(r, ctx):
    fresh = r["fresh"]
    assert isinstance(fresh, dict), "expected build_model() to return a model"
    assert bool(fresh["new"]), "expected build_model() to return a new model, not `model`"
    assert bool(fresh["compiled"]), "expected build_model() to return a compiled model"
    params, model_params = int(number(fresh["params"])), int(number(fresh["model_params"]))
    assert params == model_params, (
        f"expected build_model() to build the network of `model`: {params} against {model_params} weights"
    )
    width = int(number(fresh["embedding"]))
    assert width == 2, f"expected a layer named 'embedding' with 2 output features, got {width}"
    _probs(fresh["probs"], len(ctx.kept["labels"]), "build_model().predict(inputs)")


# ----------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def embeddings_are_recorded_for_the_kept_network(r, ctx):
    embeddings = r["embeddings"]
    epochs = ctx.params["SNAPSHOT_EPOCHS"]
    assert isinstance(embeddings, dict), "expected `embeddings` to be a dict epoch -> (34, 2) array"
    missing = [e for e in epochs if str(e) not in embeddings]
    assert not missing, f"expected `embeddings` for the epochs {tuple(epochs)}, missing {missing}"
    n = len(ctx.kept["labels"])
    for e in epochs:
        array(embeddings[str(e)], (n, 2), f"embeddings[{e}]")
    now = array(r["embedding_now"], (n, 2), "the output of the layer 'embedding'")
    last = np.asarray(embeddings[str(epochs[-1])], dtype=float)
    assert np.allclose(last, now, atol=1e-3), (
        f"expected embeddings[{epochs[-1]}] to be the embedding of the kept `model` after its training"
    )


@exercise.check(task="2", points=1)
def history_covers_every_epoch(r, ctx):
    history = r["history"]
    assert isinstance(history, dict) and "loss" in history, "expected `history` to be the History of `fit`"
    loss = array(history["loss"], name="history.history['loss']")
    epochs = ctx.params["EPOCHS"]
    assert loss.shape == (epochs,), f"expected {epochs} epochs of training, got {loss.size}"
    assert loss[-1] < loss[0], "expected the training loss to fall"


@exercise.check(task="2", points=1)
def y_pred_and_accuracy_come_from_the_model(r, ctx):
    n = len(ctx.kept["labels"])
    probs = _probs(r["probs"], n, "model.predict(inputs)")
    y_pred = array(r["y_pred"], (n,), "y_pred")
    top = np.sort(probs, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-3  # members whose argmax round-off cannot flip
    assert np.array_equal(y_pred[clear], probs.argmax(axis=1)[clear]), (
        "expected y_pred to be the argmax of model.predict(inputs)"
    )
    accuracy = number(r["accuracy"], "accuracy")
    assert abs(accuracy - _accuracy(y_pred, ctx)) < 1e-6, (
        f"expected `accuracy` = the share of the test members x_test predicted right, got {accuracy:.3f}"
    )


@exercise.check(task="2", points=1)
def trained_network_classifies_the_club(r, ctx):
    n = len(ctx.kept["labels"])
    pred = _probs(r["probs"], n, "model.predict(inputs)").argmax(axis=1)
    known, labels = ctx.kept["known"], ctx.kept["labels"]
    assert np.all(pred[known] == labels[known]), "expected the four known members to be predicted right"
    accuracy = _accuracy(pred, ctx)
    assert accuracy > 0.6, f"expected a test accuracy above 0.6, got {accuracy:.3f}"


# ----------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def accuracy_baseline_is_that_of_y_baseline(r, ctx):
    n = len(ctx.kept["labels"])
    y_baseline = array(r["y_baseline"], (n,), "y_baseline")
    accuracy = number(r["accuracy_baseline"], "accuracy_baseline")
    assert abs(accuracy - _accuracy(y_baseline, ctx)) < 1e-6, (
        f"expected accuracy_baseline = the accuracy of y_baseline on x_test, got {accuracy:.3f}"
    )


@exercise.check(task="3", points=1)
def y_baseline_is_label_spreading(r, ctx):
    n = len(ctx.kept["labels"])
    y_baseline = array(r["y_baseline"], (n,), "y_baseline")
    differ = int(np.sum(y_baseline.astype(int) != ctx.kept["spreading"]))
    assert differ <= 1, (
        f"expected the groups of label spreading on the adjacency (alpha=0.2, max_iter=1000), {differ} members differ"
    )
    accuracy = _accuracy(y_baseline, ctx)
    assert accuracy > 0.8, f"expected label spreading to reach more than 0.8, got {accuracy:.3f}"


# ----------------------------------------------------------------------------------------------- task 5
def _draws(r, ctx):
    """The student's draws (N_DRAWS, 4) and reported accuracies, checked for their form."""
    labels, n_draws = ctx.kept["labels"], ctx.params["N_DRAWS"]
    known = array(r["known_draws"], (n_draws, 4), "known_draws").astype(int)
    assert np.all((known >= 0) & (known < len(labels))), "expected node indices 0 to 33 in known_draws"
    for row in known:
        assert sorted(labels[row]) == [0, 1, 2, 3], "expected one known member of each group in every draw"
    reported = r["accuracy_draws"]
    assert isinstance(reported, dict) and set(reported) == {"GCN", "label spreading"}, (
        "expected accuracy_draws with the keys 'GCN' and 'label spreading'"
    )
    values = {name: array(v, name=f"accuracy_draws[{name!r}]").reshape(-1) for name, v in reported.items()}
    for name, v in values.items():
        assert v.size == n_draws, f"expected N_DRAWS = {n_draws} accuracies for {name!r}, got {v.size}"
    return known, values


def _draw_accuracies(groups, known, labels):
    """Test accuracy of the predicted ``groups`` (one (34,) array per draw) on the members not in ``known``."""
    out = []
    for predicted, chosen in zip(groups, known, strict=True):
        test = np.setdiff1d(np.arange(len(labels)), chosen)
        out.append(float(np.mean(predicted[test] == labels[test])))
    return np.array(out)


@exercise.check(task="5", points=1)
def label_spreading_on_random_known_members(r, ctx):
    labels = ctx.kept["labels"]
    n = len(labels)
    known, values = _draws(r, ctx)
    fresh = array(r["spread_fresh"], (len(ctx.kept["draws"]), n), "spread_labels on the grader's draws")
    for predicted, reference in zip(fresh, ctx.kept["spreading_draws"], strict=True):
        differ = int(np.sum(predicted.astype(int) != reference))
        assert differ <= 1, (
            f"expected spread_labels to give the groups of label spreading (alpha=0.2, max_iter=1000), {differ} "
            "members differ"
        )
    own = array(r["spread_own"], (len(known), n), "spread_labels on known_draws").astype(int)
    recomputed = _draw_accuracies(own, known, labels)
    assert np.allclose(values["label spreading"], recomputed, atol=1e-6), (
        "expected accuracy_draws['label spreading'] to be the test accuracies of spread_labels(known_draws[d]), "
        f"got {np.round(values['label spreading'], 3).tolist()}"
    )


@exercise.check(task="5", points=1)
def gcn_on_random_known_members(r, ctx):
    labels = ctx.kept["labels"]
    n = len(labels)
    known, values = _draws(r, ctx)
    own = array(r["gcn_own"], (len(known), n, 4), "the predictions of gcn_draws")
    recomputed = _draw_accuracies(own.argmax(axis=2), known, labels)
    assert np.allclose(values["GCN"], recomputed, atol=1e-6), (
        "expected accuracy_draws['GCN'] to be the test accuracies of the networks gcn_draws[d], "
        f"got {np.round(values['GCN'], 3).tolist()}"
    )
    draws = ctx.kept["draws"]
    fresh = array(r["gcn_fresh"], (len(draws), n, 4), "the predictions of train_gcn on the grader's draws")
    accuracies = _draw_accuracies(fresh.argmax(axis=2), draws, labels)
    assert np.mean(accuracies) > 0.55, (
        "expected the networks of train_gcn on random known members to predict more than 0.55 of the other members "
        f"on average, got {np.round(accuracies, 3).tolist()}"
    )
