"""Killing tests for the genuine parse 1.22.4 survivors of the calibration set (ids 2000 + the sweep's id).

`test_kill_<id>` passes on the original parse and fails with survivor `<id>` applied
(check_kills.py proves both). By hand: `PYTHONPATH=../parse-1.22.4 python -m pytest test_parse.py`.
"""

import datetime

import pytest

import parse


def _month(name):
    return parse.parse("{:tg}", "1/%s/2020" % name)[0].month


def test_kill_2001():
    assert parse.__version__ == "1.22.4"

def test_kill_2026():
    assert parse.parse("{:d}", "-0")[0] == 0

def test_kill_2028():
    assert parse.parse("{:d}", "0xa")[0] == 10

def test_kill_2054():
    tz = parse.parse("{:ti}", "2020-01-01T00:00:00+01:00")[0].tzinfo
    assert tz.dst(None) == datetime.timedelta(0)

def test_kill_2062():
    tz = parse.parse("{:ti}", "2020-01-01T00:00:00+01:00")[0].tzinfo
    assert (tz == 5) is False

def test_kill_2068():
    assert _month("Jan") == 1

def test_kill_2069():
    assert _month("January") == 1

def test_kill_2070():
    assert _month("January") == 1

def test_kill_2071():
    assert _month("Feb") == 2

def test_kill_2072():
    assert _month("Feb") == 2

def test_kill_2073():
    assert _month("February") == 2

def test_kill_2074():
    assert _month("February") == 2

def test_kill_2075():
    assert _month("Mar") == 3

def test_kill_2076():
    assert _month("Mar") == 3

def test_kill_2077():
    assert _month("March") == 3

def test_kill_2078():
    assert _month("March") == 3

def test_kill_2079():
    assert _month("Apr") == 4

def test_kill_2080():
    assert _month("Apr") == 4

def test_kill_2081():
    assert _month("April") == 4

def test_kill_2082():
    assert _month("April") == 4

def test_kill_2083():
    assert _month("May") == 5

def test_kill_2084():
    assert _month("May") == 5

def test_kill_2085():
    assert _month("Jun") == 6

def test_kill_2086():
    assert _month("Jun") == 6

def test_kill_2087():
    assert _month("June") == 6

def test_kill_2088():
    assert _month("June") == 6

def test_kill_2089():
    assert _month("Jul") == 7

def test_kill_2090():
    assert _month("Jul") == 7

def test_kill_2091():
    assert _month("July") == 7

def test_kill_2092():
    assert _month("July") == 7

def test_kill_2093():
    assert _month("Aug") == 8

def test_kill_2094():
    assert _month("Aug") == 8

def test_kill_2095():
    assert _month("August") == 8

def test_kill_2096():
    assert _month("August") == 8

def test_kill_2098():
    assert _month("Sep") == 9

def test_kill_2099():
    assert _month("September") == 9

def test_kill_2100():
    assert _month("September") == 9

def test_kill_2101():
    assert _month("Oct") == 10

def test_kill_2102():
    assert _month("Oct") == 10

def test_kill_2103():
    assert _month("October") == 10

def test_kill_2104():
    assert _month("October") == 10

def test_kill_2109():
    assert _month("Dec") == 12

def test_kill_2110():
    assert _month("Dec") == 12

def test_kill_2111():
    assert _month("December") == 12

def test_kill_2112():
    assert _month("December") == 12

def test_kill_2165():
    assert parse.parse("{:ti}", "2020-01-01T00:00:00Z")[0].tzinfo.tzname(None) == "UTC"

def test_kill_2182():
    with pytest.raises(ValueError, match="^timezone minute must be in 0..59$"):
        parse.parse("{:ti}", "2020-01-01T00:00:00+01:60")

def test_kill_2322():
    assert repr(parse.compile("x" * 20)) == "<Parser %r>" % ("x" * 20)

def test_kill_2323():
    assert repr(parse.compile("x" * 21)) == "<Parser %r>" % ("x" * 17 + "...")

def test_kill_2355():
    assert parse.compile("a{}").search("ab") is not None

def test_kill_2356():
    assert isinstance(parse.compile("{}").search("a"), parse.Result)

def test_kill_2361():
    assert len(list(parse.compile("a").findall("a"))) == 1

def test_kill_2362():
    assert all(isinstance(r, parse.Result) for r in parse.compile("a").findall("aa"))

def test_kill_2445():
    with pytest.raises(parse.RepeatedNameError) as caught:
        parse.compile("{x:d} {x:w}")
    assert str(caught.value).startswith('field type \'w\' for field "x" ')

def test_kill_2446():
    with pytest.raises(parse.RepeatedNameError) as caught:
        parse.compile("{x:d} {x:w}")
    assert str(caught.value).endswith("does not match previous seen type 'd'")

def test_kill_2711():
    assert parse.search("a", "A") is not None  # case-insensitive by default
