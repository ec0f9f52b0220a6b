"""``dlphys.checking.classification_accuracy``, the accuracy the visible checks of 12.1 and 12.2 measure."""

import numpy as np
import pytest

from dlphys.checking import classification_accuracy


def test_accuracy_counts_the_rows_whose_largest_score_is_the_label():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    labels = np.array([0, 1, 1, 1])  # right, right, wrong (class 2 largest), wrong (class 0 largest)
    assert classification_accuracy(probabilities, labels) == 0.5  # exact: 2 of 4


def test_accuracy_takes_scores_and_labels_of_any_int_shape():
    scores = np.array([[-1.0, 3.0], [2.0, 0.0], [0.0, 5.0]])  # logits: only the largest entry matters
    assert classification_accuracy(scores, np.array([[1], [0], [0]])) == pytest.approx(2 / 3, abs=1e-12)


def test_accuracy_refuses_a_row_count_that_differs_from_the_labels():
    with pytest.raises(ValueError, match="one row per label"):
        classification_accuracy(np.zeros((3, 10)), np.zeros(4, dtype=int))
