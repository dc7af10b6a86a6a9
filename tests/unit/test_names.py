"""The one gate for names from outside (no network)."""

import os

import pytest

from lsru_geo._names import MAX_NAME_BYTES, path_inside, safe_name
from lsru_geo.exceptions import InvalidInputError, UnsafeNameError

GOOD = [
    "LC08_L2SP_196030_20230517_20230525_02_T1",
    "LC08_L2SP_196030_20230517_20230525_02_T1_SR_B4.TIF",
    "LC080330322023051702T1-SC20231226221722.tar.gz",
    "espa-me@example.com-12072026-234819-392",
    "é" * (MAX_NAME_BYTES // 2),  # 254 bytes of UTF-8
]
BAD = {
    "": "not empty",
    ".": "not empty",
    "..": "not empty",
    "../etc": "separator",
    "a/b": "separator",
    "a\\b": "separator",
    "a\x00b": "control",
    "a\nb": "control",
    "\x1b[2Jx": "control",
    "a\u202eb": "control",  # right-to-left override: shows another name than the one written
    "x" * (MAX_NAME_BYTES + 1): "longer than 255 bytes",
    "é" * 128: "longer than 255 bytes",
    "C:evil": "holds one of",
    "a|b": "holds one of",
    " lead": "starts or ends with a space",
    "trail.": "ends with a dot",
}


@pytest.mark.parametrize("name", GOOD)
def test_plain_names_pass(name):
    assert safe_name(name) == name


@pytest.mark.parametrize(("name", "problem"), BAD.items())
def test_unsafe_names_are_refused_with_the_value_named(name, problem):
    with pytest.raises(UnsafeNameError, match=problem) as info:
        safe_name(name, "display id")
    assert isinstance(info.value, InvalidInputError)
    assert str(info.value).startswith("unsafe display id ") and repr(name)[:40] in str(info.value)


@pytest.mark.parametrize("value", [None, 3, b"name", ["a"]])
def test_names_must_be_strings(value):
    with pytest.raises(UnsafeNameError, match="must be a string"):
        safe_name(value)


def test_the_path_must_resolve_inside_the_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    assert path_inside(folder, "a.tif") == folder / "a.tif"
    (folder / "link").symlink_to(tmp_path)
    (folder / "sub").mkdir()
    (folder / "inner").symlink_to(folder / "sub")
    with pytest.raises(UnsafeNameError, match="leads outside"):
        path_inside(folder, "link")
    assert path_inside(folder, "inner") == folder / "inner"  # a link that stays inside is fine
    with pytest.raises(UnsafeNameError):
        path_inside(folder, "../a.tif")
    assert os.listdir(tmp_path) == ["out"]
