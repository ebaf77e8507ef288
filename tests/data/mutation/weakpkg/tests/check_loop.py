from calc.loop import countdown


def test_countdown():
    assert countdown(3) == 0
