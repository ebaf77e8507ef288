"""Imported only when a function runs: the warm worker never imports it."""


def double(x):
    return x * 2
