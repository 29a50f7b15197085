"""eiegen/options.py: numeric options refused when parsed (issue 19, item 5)."""

import argparse

import pytest

from eiegen.options import config_setting, int_list, number


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "0", "-1", "3601", "x", ""])
def test_timeout_like_number_refuses(text):
    parse = number(float, 0, 3600, lo_open=True, what="seconds")
    with pytest.raises(argparse.ArgumentTypeError,
                       match=r"expected a finite number above 0 up to 3600 \(seconds\)"):
        parse(text)


def test_number_accepts_and_converts():
    assert number(float, 0, 1)("0.5") == 0.5 and number(float, 0, 1)("0") == 0.0
    assert number(int, 1)("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="an integer at least 1, got '0'"):
        number(int, 1)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="got '2.5'"):
        number(int, 1)("2.5")


def test_int_list():
    assert int_list(min_items=2)("256,128,64") == [256, 128, 64]
    for bad in ("a,b", "16", "0,4", "-3,4", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            int_list(1, 1 << 16, min_items=2)(bad)


def test_config_setting_parses_a_field_and_its_value_in_range():
    assert config_setting(" broadcast_width = 3") == ("broadcast_width", 3)
    assert config_setting("col_filter=0") == ("col_filter", 0)


@pytest.mark.parametrize("text, message", [
    ("colfilter=1", r"unknown config field 'colfilter'; known fields: .*col_filter"),
    ("col_filter=2", r"col_filter: expected an integer from 0 up to 1 \(.*\), got '2'"),
    ("broadcast_width=5", r"broadcast_width: .* from 1 up to 4 .*got '5'"),
    ("queue_depth=1.5", r"queue_depth: expected an integer .*got '1.5'"),
    ("col_filter", r"expected FIELD=VALUE such as col_filter=1, got 'col_filter'"),
])
def test_config_setting_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        config_setting(text)
