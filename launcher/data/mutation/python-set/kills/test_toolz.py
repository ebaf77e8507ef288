"""Killing tests for the genuine toolz 1.2.0 survivors of the calibration set (ids 1000 + the sweep's id).

`test_kill_<id>` passes on the original toolz and fails with survivor `<id>` applied
(check_kills.py proves both). By hand: `PYTHONPATH=../toolz-1.2.0 python -m pytest test_toolz.py`.
"""

import pytest

from toolz import dissoc, diff, merge, merge_sorted, partition, random_sample
from toolz.functoolz import has_keywords, has_varargs, is_partial_args, is_valid_args, num_required_args
from toolz.utils import raises


def test_kill_1015():
    with pytest.raises(TypeError) as caught:
        merge({}, foo=1)
    assert str(caught.value) == "merge() got an unexpected keyword argument 'foo'"


def test_kill_1016():
    with pytest.raises(TypeError) as caught:
        merge({}, foo=1)
    assert str(caught.value).endswith("argument 'foo'")


# dissoc copies in the dict's order when few keys go, in set order otherwise: the threshold shows
def test_kill_1046():
    assert list(dissoc({5: 0, 4: 0, 3: 0, 2: 0, 1: 0}, 9, 8, 7)) == [1, 2, 3, 4, 5]  # 3 keys of 5: set order


def test_kill_1047():
    assert list(dissoc({3: 0, 2: 0, 1: 0}, 9, 8, 7)) == [1, 2, 3]


def test_kill_1048():
    assert list(dissoc({3: 0, 2: 0, 1: 0}, 9, 8, 7)) == [1, 2, 3]


def test_kill_1122():
    assert [type(x) for x in merge_sorted([1], [1.0])] == [int, float]  # stable: the first sequence wins ties


def test_kill_1123():
    assert [type(x) for x in merge_sorted([1], [0, 1.0])] == [int, int, float]


def test_kill_1135():
    assert list(merge_sorted(["b"], ["a", "B"], key=str.lower)) == ["a", "b", "B"]


def test_kill_1210():
    assert list(partition(2, [1, 2, 3], pad="__no__pad__")) == [(1, 2)]  # the interned literal is the sentinel


def test_kill_1272():
    with pytest.raises(TypeError, match=r"^Too few sequences given \(min 2 required\)$"):
        list(diff([1]))


def test_kill_1275():
    assert list(diff([1, 2], [1, 3], key=lambda x: 0)) == []


def test_kill_1280():
    assert list(diff([1, 2], [1, 3], key=abs)) == [(2, 3)]


class Half:
    def random(self):
        return 0.5


def test_kill_1290():
    assert list(random_sample(0.5, [1], random_state=Half())) == []


def test_kill_1299():
    assert raises(ValueError, lambda: 1) is False


def test_kill_2836():
    assert num_required_args.__doc__.startswith(" ")  # the public docstring, as help() shows it


def test_kill_2837():
    assert has_varargs.__doc__.startswith(" ")  # the public docstring, as help() shows it


def test_kill_2838():
    assert has_keywords.__doc__.startswith(" ")  # the public docstring, as help() shows it


def test_kill_2839():
    assert is_valid_args.__doc__.startswith(" ")  # the public docstring, as help() shows it


def test_kill_2840():
    assert is_partial_args.__doc__.startswith(" ")  # the public docstring, as help() shows it
