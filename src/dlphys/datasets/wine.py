"""Wine Quality (white vinho verde): 4898 wines, 11 physicochemical features and a quality score.

The data of exercises 3.2, 4.1, 4.2 and 5.3. Features (units as in the original data): fixed
acidity [g(tartaric acid)/dm³], volatile acidity [g(acetic acid)/dm³], citric acid [g/dm³],
residual sugar [g/dm³], chlorides [g(sodium chloride)/dm³], free and total sulfur dioxide
[mg/dm³], density [g/cm³], pH, sulphates [g(potassium sulphate)/dm³], alcohol [% vol.].
Target: ``quality``, the median of at least three sensory assessments on a 0-10 scale.

Source: P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis, "Modeling wine preferences by
data mining from physicochemical properties", Decision Support Systems 47 (2009) 547-553;
UCI Machine Learning Repository, CC BY 4.0.

The file is taken from the cache, then from ``DLPHYS_MIRROR``, then from UCI, and accepted only
with the expected SHA-256 and 4898 rows × 12 named numeric columns.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace

import numpy as np

from dlphys.datasets._download import fetch

FILENAME = "winequality-white.csv"
URLS = ("https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/winequality-white.csv",)
SHA256 = "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836"
N_ROWS = 4898
COLUMNS = (
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
    "quality",
)


@dataclass(frozen=True)
class Wine:
    """Train/test split of the wine data: ``x_*`` (N, 11) features, ``y_*`` (N,) quality."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]

    def standardized(self) -> Wine:
        """The same split with every feature shifted and scaled to zero mean and unit spread.

        Mean and standard deviation come from the *training* wines only and are applied to both
        sets, so nothing about the test set leaks into the inputs. Quality is left unchanged.
        """
        mean, std = self.x_train.mean(axis=0), self.x_train.std(axis=0)
        return replace(self, x_train=(self.x_train - mean) / std, x_test=(self.x_test - mean) / std)


def parse(payload: bytes) -> np.ndarray:
    """Parse the UCI CSV (semicolon separated, quoted header) into a (4898, 12) float array.

    Raises ``ValueError`` naming the problem when the content is not the expected table.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if not rows or tuple(h.strip() for h in rows[0]) != COLUMNS:
        raise ValueError(f"header is not the 12 wine-quality column names: {rows[0][:3] if rows else 'empty file'}")
    body = [r for r in rows[1:] if r]
    if len(body) != N_ROWS:
        raise ValueError(f"expected {N_ROWS} data rows, found {len(body)}")
    try:
        table = np.array(body, dtype=float)
    except ValueError as exc:
        raise ValueError(f"non-numeric or ragged rows ({exc})") from exc
    if table.shape != (N_ROWS, len(COLUMNS)):
        raise ValueError(f"expected shape {(N_ROWS, len(COLUMNS))}, found {table.shape}")
    return table


def load_table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """All 4898 wines: features (4898, 11), quality (4898,), the 11 feature names."""
    path = fetch(FILENAME, URLS, sha256=SHA256, validate=parse)
    table = parse(path.read_bytes())
    return table[:, :-1], table[:, -1], COLUMNS[:-1]


def load(test_fraction: float = 0.2, seed: int = 0, fast=None, refresh: bool = False) -> Wine:
    """The wine data, shuffled with ``seed`` and split into train and test sets.

    The data set is small, so fast mode uses all of it too (``fast`` is accepted for the uniform
    loader signature). ``refresh=True`` verifies the cached file again (it is always verified).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    x, y, names = load_table()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return Wine(x[train], y[train], x[test], y[test], names)
