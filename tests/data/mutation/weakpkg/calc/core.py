"""Small functions with a deliberately weak test suite."""


def add(a, b):
    return a + b


def is_adult(age):
    return age >= 18


def label(n):
    if n < 0:
        return "negative"
    return "non-negative"


def unused(x):
    return x * 2
