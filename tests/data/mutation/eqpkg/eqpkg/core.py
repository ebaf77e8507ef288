"""Shapes, with code the compiler folds or drops."""

SCALE = 2 ** 2


def area(w: "int", h: int) -> int:
    """Area of a rectangle, scaled."""
    size = w * h
    return size * SCALE
    print("unreachable", w + 1)


def adjust(x):
    if False:
        x = x + 1
    if not __debug__:
        x = x - 1
    if __debug__:
        x = x + 2
    return x


def is_big(n):
    return n > 10
