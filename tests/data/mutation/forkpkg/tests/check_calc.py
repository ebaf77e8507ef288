from calc import core


def check_add():
    assert core.add(2, 3) == 5


def check_clamp_low():
    assert core.clamp(-1, 0, 10) == 0
    assert core.clamp(5, 0, 10) == 5


def check_scaled():
    assert core.scaled(1) == 10


def check_counter():
    c = core.Counter()
    assert c.bump() == 1
    assert c.bump(2) == 3
    assert c.doubled == 6
    c.reset()


def check_tripled():
    assert core.tripled(7) == 21


def check_names():
    assert core.NAMES == ["ab", "cd"]


def check_square():
    assert core.square(3) == 9


def check_spin():
    assert core.spin(3) == 0


def check_lazy():
    assert core.via_lazy(2) == 4


def check_outer():
    assert core.outer(1) == 2


def check_decorated():
    assert core.quadruple(2) == 8
    assert core.quintuple(2) == 10
