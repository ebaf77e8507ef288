from calc.core import add, is_adult, label


def test_add():
    assert add(2, 3) == 5


def test_is_adult():
    assert is_adult(30)
    assert not is_adult(3)


def test_label():
    assert label(-1) == "negative"
    assert label(5) == "non-negative"
