from eqpkg.core import SCALE, adjust, area, is_big


def check(ok):
    if not ok:  # no assert: the suite also runs under python -O
        raise AssertionError("check failed")


def test_area():
    check(area(2, 3) == 24)


def test_scale():
    check(SCALE == 4)


def test_adjust():
    check(adjust(5) == (7 if __debug__ else 4))


def test_is_big():  # weak: n == 10 is never tried, so `>=` survives
    check(is_big(20) and not is_big(3))
