"""dlphys.checking.check_station_maps: the visible checks of the air-shower inputs (Exercises 7.2 and 8.2)."""

import numpy as np
import pytest

from dlphys.checking import check_station_maps
from dlphys.datasets import airshower


@pytest.fixture(scope="module")
def events():
    return airshower.simulate(30, seed=123)


@pytest.mark.parametrize(
    ("layout", "time_unit", "flatten"), [("offset", 1e-5, True), ("offset", 1e-6, False), ("axial", 1e-6, False)]
)
def test_the_maps_of_network_input_pass_in_every_layout(events, layout, time_unit, flatten):
    x = airshower.network_input(events, layout=layout, time_unit=time_unit)
    check_station_maps(x.reshape(len(x), -1) if flatten else x, events, time_unit=time_unit)


def test_a_wrong_time_unit_fails(events):
    # µs instead of 10 µs: every time is 10 times too large, far beyond the tolerance of 1e-3 units
    x = airshower.network_input(events, time_unit=1e-6)
    with pytest.raises(AssertionError, match="channel 1"):
        check_station_maps(x, events, time_unit=1e-5)


def test_raw_times_fail(events):
    x = airshower.network_input(events)
    x[..., 1] = np.where(events["triggered"], events["time"] * 1e6, 0.0)  # µs after the core reached the ground
    with pytest.raises(AssertionError, match="first triggered station"):
        check_station_maps(x, events, time_unit=1e-6)


def test_a_raw_signal_fails(events):
    x = airshower.network_input(events)
    x[..., 0] = events["signal"]
    with pytest.raises(AssertionError, match="log10"):
        check_station_maps(x, events)


def test_maps_of_other_showers_fail(events):
    x = airshower.network_input(events)[::-1]
    with pytest.raises(AssertionError, match=r"silent stations|channel"):
        check_station_maps(x, events)


def test_a_filled_axial_corner_fails(events):
    x = airshower.network_input(events, layout="axial")
    x[:, 0, 0, 0] = 1.0  # (r = 0, q = 0) holds no station
    with pytest.raises(AssertionError, match="without a station"):
        check_station_maps(x, events)


def test_a_wrong_shape_is_named(events):
    x = airshower.network_input(events)[:, :, :, :1]
    with pytest.raises(AssertionError, match="got \\(30, 9, 9, 1\\)"):
        check_station_maps(x, events, name="x_test")
