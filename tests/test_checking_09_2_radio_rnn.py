"""``dlphys.checking.binary_classifier_figures``: the reference the visible checks of 9.2 and 10.1 call."""

import numpy as np
import pytest

from dlphys.checking import binary_classifier_figures


def test_accuracy_and_auc_of_four_hand_counted_samples():
    # called at P > 0.5: 0.9 -> 1 (right), 0.2 -> 0 (right), 0.6 -> 1 (wrong), 0.4 -> 0 (wrong): accuracy 1/2;
    # of the 4 (pulse, noise) pairs, 3 rank the pulse higher: AUC 3/4. Both exact in floating point.
    figures = binary_classifier_figures([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 1])
    assert figures == {"accuracy": 0.5, "auc": 0.75}


def test_a_score_at_the_threshold_is_called_class_0():
    assert binary_classifier_figures([0.5, 0.7], [0, 1])["accuracy"] == 1.0
    assert binary_classifier_figures([0.5, 0.7], [1, 0], threshold=0.4)["accuracy"] == 0.5


def test_column_vectors_of_a_sigmoid_output_are_accepted():
    p = np.array([[0.1], [0.8], [0.3]])
    assert binary_classifier_figures(p, np.array([0.0, 1.0, 1.0])) == binary_classifier_figures(p[:, 0], [0, 1, 1])


def test_different_numbers_of_scores_and_labels_are_refused():
    with pytest.raises(ValueError, match="same number"):
        binary_classifier_figures([0.1, 0.2, 0.3], [0, 1])
