"""Fuzzed input (a first part of the reliability work): every value ends in a result or one of our typed errors."""

import datetime as dt

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsru_geo import InvalidInputError
from lsru_geo._inputs import check_bbox, check_cloud, check_dates, check_months, to_geometry
from lsru_geo.utils import is_valid, parse_id

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=50),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=5)), max_size=6),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=4),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(anything)
def test_bbox_months_cloud_never_crash(value):
    for check in (check_bbox, check_months, check_cloud):
        try:
            check(value)
        except InvalidInputError:
            pass


@FAST
@given(st.one_of(anything, st.dates().map(str), st.datetimes()), st.one_of(anything, st.dates()))
def test_dates_never_crash(begin, end):
    try:
        first, last = check_dates(begin, end)
    except InvalidInputError:
        return
    assert first is None or last is None or first <= last
    assert all(d is None or isinstance(d, dt.date) for d in (first, last))


@FAST
@given(st.text(alphabet="LCOTEM0123456789_RSPGN", min_size=0, max_size=45))
def test_ids_parse_or_are_invalid(text):
    if is_valid(text):
        assert parse_id(text)["kind"] in ("product", "scene")
    else:
        with pytest.raises(InvalidInputError):
            parse_id(text)


coordinate = st.floats(min_value=-400, max_value=400, allow_nan=False)


@FAST
@given(st.lists(st.tuples(coordinate, coordinate), min_size=0, max_size=8))
def test_aois_from_arbitrary_rings(points):
    geojson = {"type": "Polygon", "coordinates": [[list(p) for p in points]]}
    try:
        geometry = to_geometry(geojson)
    except InvalidInputError:
        return
    assert isinstance(geometry, shapely.Geometry) and geometry.is_valid and not geometry.is_empty
    minx, miny, maxx, maxy = geometry.bounds
    assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
