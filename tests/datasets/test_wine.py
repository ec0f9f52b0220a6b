"""The wine loader: cache → mirror → download, each source validated, against a local HTTP server."""

import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from dlphys.datasets import _download, wine

MIRROR = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOD = (MIRROR / wine.FILENAME).read_bytes() if (MIRROR / wine.FILENAME).is_file() else None
needs_mirror = pytest.mark.skipif(GOOD is None, reason="offline mirror ../shared/data not present")


class _Handler(BaseHTTPRequestHandler):
    """Serves /good, /truncated (short body, honest length), /cut (connection drops mid-body), /garbage."""

    hits: ClassVar[list[str]] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        if self.path == "/missing":
            self.send_error(404)
            return
        body = {
            "/good": GOOD,
            "/truncated": GOOD[: len(GOOD) // 2],
            "/garbage": b"<html>rate limit</html>",
            "/cut": GOOD,
        }[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if self.path != "/cut" else body[:1000])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@needs_mirror
def test_download_is_validated_and_cached(server, data_dir, monkeypatch):
    monkeypatch.setattr(wine, "URLS", (server + "/good",))
    data = wine.load()
    assert (data_dir / wine.FILENAME).read_bytes() == GOOD
    assert data.x_train.shape == (3918, 11) and data.x_test.shape == (980, 11)
    assert data.feature_names[-1] == "alcohol"
    wine.load()
    assert _Handler.hits == ["/good"], "the second load must come from the cache"


@needs_mirror
@pytest.mark.parametrize("path", ["/truncated", "/garbage", "/cut", "/missing"])
def test_bad_download_is_rejected_and_nothing_is_cached(server, data_dir, monkeypatch, path):
    monkeypatch.setattr(wine, "URLS", (server + path,))
    with pytest.raises(_download.DataUnavailableError, match="DLPHYS_MIRROR") as info:
        wine.load()
    assert server + path in str(info.value)
    assert not (data_dir / wine.FILENAME).exists()
    assert not list(data_dir.glob("*.part")), "no half-written file may remain"


@needs_mirror
def test_bad_first_url_falls_back_to_the_next(server, data_dir, monkeypatch):
    monkeypatch.setattr(wine, "URLS", (server + "/garbage", server + "/good"))
    assert len(wine.load().y_train) == 3918


@needs_mirror
def test_truncated_cache_is_fetched_again(server, data_dir, monkeypatch):
    monkeypatch.setattr(wine, "URLS", (server + "/good",))
    data_dir.mkdir(parents=True)
    (data_dir / wine.FILENAME).write_bytes(GOOD[:5000])
    with pytest.warns(UserWarning, match="damaged"):
        wine.load()
    assert (data_dir / wine.FILENAME).read_bytes() == GOOD


@needs_mirror
def test_mirror_is_used_before_the_network(data_dir, monkeypatch):
    monkeypatch.setattr(wine, "URLS", ("http://127.0.0.1:9/never-asked",))
    monkeypatch.setenv("DLPHYS_MIRROR", str(MIRROR))
    data = wine.load()
    assert (data_dir / wine.FILENAME).read_bytes() == GOOD
    # Literature value: alcohol correlates with quality at r ≈ 0.44 (Cortez et al. 2009).
    r = np.corrcoef(np.r_[data.x_train[:, -1], data.x_test[:, -1]], np.r_[data.y_train, data.y_test])[0, 1]
    assert r == pytest.approx(0.436, abs=0.005)


@needs_mirror
def test_corrupt_mirror_file_is_skipped_for_a_good_one(data_dir, monkeypatch, tmp_path):
    bad = tmp_path / "bad_mirror"
    bad.mkdir()
    (bad / wine.FILENAME).write_bytes(GOOD.replace(b";", b",", 40))
    monkeypatch.setattr(wine, "URLS", ())
    monkeypatch.setenv("DLPHYS_MIRROR", f"{bad}:{MIRROR}")
    assert len(wine.load().y_test) == 980


def test_offline_without_mirror_says_what_to_do(data_dir, monkeypatch):
    monkeypatch.setattr(wine, "URLS", ("http://127.0.0.1:9/unreachable.csv",))
    with pytest.raises(_download.DataUnavailableError) as info:
        wine.load()
    message = str(info.value)
    assert "DLPHYS_MIRROR" in message and "it is unset" in message and str(data_dir) in message
    assert "Traceback" not in message


def test_parse_rejects_wrong_table():
    with pytest.raises(ValueError, match="header"):
        wine.parse(b"a;b;c\n1;2;3\n")
    header = ";".join(f'"{c}"' for c in wine.COLUMNS).encode()
    with pytest.raises(ValueError, match="4898 data rows"):
        wine.parse(header + b"\n" + b"1;" * 11 + b"1\n")


def test_split_is_seeded_and_disjoint():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if GOOD is None:
            pytest.skip("offline mirror not present")
    a, b = wine.load(seed=3), wine.load(seed=3)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(wine.load(seed=4).x_test, a.x_test)
    with pytest.raises(ValueError, match="test_fraction"):
        wine.load(test_fraction=1.5)


def test_standardized_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    x_train, x_test = rng.normal(5.0, 2.0, (200, 3)), rng.normal(50.0, 9.0, (40, 3))
    data = wine.Wine(x_train, np.arange(200.0), x_test, np.arange(40.0), ("a", "b", "c"))
    scaled = data.standardized()
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1.0, rtol=1e-12)
    # the test set is shifted by the training mean: it stays far off (50 - 5) / 2 ≈ 22 spreads
    np.testing.assert_allclose(scaled.x_test, (x_test - x_train.mean(0)) / x_train.std(0))
    assert scaled.x_test.mean() > 15
    np.testing.assert_array_equal(scaled.y_test, data.y_test)
    assert scaled.feature_names == data.feature_names
