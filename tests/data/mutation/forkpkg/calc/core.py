"""A tiny module with a deliberately weak test suite (tests/check_calc.py)."""

import functools

SCALE = 2 * 5  # module body: import-time code


def add(a, b):
    return a + b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:  # the suite never clamps from above: mutants here survive
        return hi
    return x


def scaled(x):
    return x * SCALE


class Counter:
    start = 0 + 0  # class body: import-time code

    def __init__(self):
        self.n = self.start

    def bump(self, k=1):
        self.n += k
        return self.n

    @property
    def doubled(self):
        return self.n * 2

    def reset(self):
        self.n = 0  # never checked: survivors


@functools.lru_cache(maxsize=None)
def tripled(n):
    return n * 3


TRIPLED_7 = tripled(7)  # cached at import: a fork of a warm process would keep the unmutated value


def names():
    return ["ab", "cd"]


NAMES = names()  # called at import: not decorated, but still cached in module state


_MEMO = {}


def square(x):
    if x not in _MEMO:
        _MEMO[x] = x * x
    return _MEMO[x]


def spin(n):
    while n > 0:
        n -= 1  # `n += 1` loops forever
    return n


def via_lazy(x):
    from calc import lazy

    return lazy.double(x) + 0


def outer(x):
    def inner(y):
        return y + 1

    return inner(x) * 1


def _logged(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)

    return wrapper


class curried:  # a wrapper object, as toolz's curry
    def __init__(self, fn):
        self.fn = functools.partial(fn)

    def __call__(self, *args):
        return self.fn(*args)


@_logged
def quadruple(x):
    return x * 4


@curried
def quintuple(x):
    return x * 5
