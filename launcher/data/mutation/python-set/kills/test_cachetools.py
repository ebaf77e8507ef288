"""Killing tests for the genuine cachetools 8.0.1 survivors of the calibration set.

`test_kill_<id>` passes on the original cachetools and fails with survivor `<id>` applied
(check_kills.py proves both). Run them by hand with
`PYTHONPATH=../cachetools-8.0.1/src python -m pytest test_cachetools.py`.
"""

import copy
import pickle

import pytest

import cachetools
from cachetools import func as cache_func
from cachetools import keys


class Clock:
    """A timer the test moves by hand (picklable: it is a module-level class)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _star_import(module_name):
    namespace = {}
    exec(f"from {module_name} import *", namespace)
    return namespace


def _all_names_importable(module_name, name):
    assert name in _star_import(module_name)


def test_kill_1():
    _all_names_importable("cachetools", "Cache")


def test_kill_2():
    _all_names_importable("cachetools", "CacheInfo")


def test_kill_3():
    _all_names_importable("cachetools", "FIFOCache")


def test_kill_4():
    _all_names_importable("cachetools", "LFUCache")


def test_kill_5():
    _all_names_importable("cachetools", "LRUCache")


def test_kill_6():
    _all_names_importable("cachetools", "RRCache")


def test_kill_7():
    _all_names_importable("cachetools", "TLRUCache")


def test_kill_8():
    _all_names_importable("cachetools", "TTLCache")


def test_kill_9():
    _all_names_importable("cachetools", "cached")


def test_kill_10():
    _all_names_importable("cachetools", "cachedmethod")


def test_kill_11():
    assert cachetools.__version__ == "8.0.1"


def test_kill_14():
    with pytest.raises(ValueError, match="^maxsize must be non-negative$"):
        cachetools.Cache(-1)


def test_kill_26():
    with pytest.raises(ValueError, match="^value too large$"):
        cachetools.Cache(0)["key"] = "value"


def test_kill_35():
    with pytest.raises(ValueError, match="^value too large$"):
        cachetools.Cache(1, getsizeof=lambda value: 5)["key"] = "value"


def test_kill_38():
    with pytest.raises(ValueError, match="^value size must be non-negative$"):
        cachetools.Cache(1, getsizeof=lambda value: -1)["key"] = "value"


def _empty_message(cache):
    with pytest.raises(KeyError) as caught:
        cache.popitem()
    return caught.value.args[0]


def test_kill_82():
    assert _empty_message(cachetools.FIFOCache(1)) == "FIFOCache is empty"


def test_kill_107():
    cache = copy.copy(cachetools.LFUCache(2))
    cache[1] = 1
    cache[2] = 2
    assert cache[1] == 1  # 1 used twice, 2 once
    cache[3] = 3  # evicts the least frequently used: 2
    assert sorted(cache) == [1, 3]


def test_kill_115():
    assert _empty_message(cachetools.LFUCache(1)) == "LFUCache is empty"


def test_kill_119():
    cache = cachetools.LFUCache(2)
    cache[1] = 1
    cache.clear()
    cache[1] = 1
    cache[2] = 2
    assert cache[2] == 2  # 2 used twice, 1 once
    cache[3] = 3  # evicts 1
    assert sorted(cache) == [2, 3]


def test_kill_139():
    assert _empty_message(cachetools.LRUCache(1)) == "LRUCache is empty"


def test_kill_157():
    assert _empty_message(cachetools.RRCache(1)) == "RRCache is empty"


def test_kill_161():
    cache = cachetools.RRCache(1)
    cache[1] = 1
    cache.clear()
    cache[1] = 1
    cache[2] = 2  # full: the random choice among the keys evicts 1
    assert list(cache) == [2]


def test_kill_179():
    clock = Clock()
    cache = cachetools.TTLCache(2, ttl=1, timer=clock)
    cache["old"] = 1
    clock.now = 5
    assert "old" not in repr(cache)


def test_kill_206():
    clock = Clock()
    cache = cachetools.TTLCache(2, ttl=1, timer=clock)
    cache[1] = 1
    clock.now = 2
    cache[2] = 2  # expires 1 on the way
    assert cache.expire() == []


def test_kill_209():
    clock = Clock()
    cache = cachetools.TTLCache(2, ttl=10, timer=clock)
    cache[1] = 1
    cache[2] = 2
    cache[1] = 11  # 1 becomes the most recently used
    cache[3] = 3  # evicts the least recently used: 2
    assert sorted(cache) == [1, 3]


def test_kill_210():
    clock = Clock()
    cache = cachetools.TTLCache(3, ttl=10, timer=clock)
    cache[1] = 1
    cache[2] = 2
    clock.now = 5
    cache[1] = 11  # now expires at 15
    clock.now = 12
    assert cache.expire() == [(2, 2)]


def test_kill_223():
    clock = Clock()
    cache = cachetools.TTLCache(2, ttl=1, timer=clock)
    cache[1] = 1
    clock.now = 5
    restored = pickle.loads(pickle.dumps(cache))
    assert restored.expire() == []  # unpickling already dropped the expired item


def test_kill_238():
    clock = Clock()
    cache = cachetools.TTLCache(2, ttl=1, timer=clock)
    cache[1] = 1
    clock.now = 5
    assert _empty_message(cache) == "TTLCache is empty"  # not KeyError(1) from the expired item


def test_kill_239():
    assert _empty_message(cachetools.TTLCache(1, ttl=1)) == "TTLCache is empty"


def _tlru(clock, size=3):
    return cachetools.TLRUCache(size, ttu=lambda key, value, now: now + 1, timer=clock)


def test_kill_250():
    clock = Clock()
    cache = _tlru(clock, size=10)
    for key in range(6):
        cache[key] = key  # all expire at 1: ties in the heap
    clock.now = 5
    assert [key for key, _ in cache.expire()] == [0, 2, 5, 4, 1, 3]  # the heap's order of ties


def test_kill_261():
    clock = Clock()
    cache = _tlru(clock)
    cache[1] = 1
    clock.now = 2
    cache[2] = 2  # expires 1 on the way
    assert cache.expire() == []


def test_kill_282():
    clock = Clock()
    cache = cachetools.TLRUCache(3, ttu=lambda key, value, now: now + (1 if key == "a" else 10), timer=clock)
    cache["a"] = 0  # expires first: stays on top of the heap, so removed items pile up under it
    for value in range(4):
        cache["b"] = value  # each replacement leaves a removed item in the heap
    cache.expire()  # 5 heap items for 2 live ones: compacts the heap
    clock.now = 20
    assert sorted(cache.expire()) == [("a", 0), ("b", 3)]


def test_kill_302():
    clock = Clock()
    cache = _tlru(clock)
    cache[1] = 1
    clock.now = 5
    assert _empty_message(cache) == "TLRUCache is empty"  # not KeyError(1) from the expired item


def test_kill_303():
    assert _empty_message(_tlru(Clock())) == "TLRUCache is empty"


def test_kill_316():
    with pytest.raises(TypeError, match="^cache must not be None$"):
        cachetools.cached(None)


def test_kill_321():
    with pytest.raises(TypeError, match="^cache must be callable$"):
        cachetools.cachedmethod(5)


def _error_text(call):
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value
    return str(error.__cause__ or error)  # Python < 3.12 wraps __set_name__ errors in RuntimeError


def test_kill_440():
    def define():
        class Twice:
            first = cachetools.cachedmethod(lambda self: {})(lambda self: 1)
            second = first

    assert _error_text(define).startswith("Cannot assign the same descriptor to two different names ")


def test_kill_443():
    descriptor = cachetools.cachedmethod(lambda self: {})(lambda self: 1)
    assert _error_text(lambda: descriptor.__get__(object())) == (
        "Cannot use descriptor instance without calling __set_name__ on it")


def _direct_call_text():
    descriptor = cachetools.cachedmethod(lambda self: {})(lambda self: 1)
    return _error_text(lambda: descriptor(None))


def test_kill_456():
    assert _direct_call_text().startswith("Cannot call @cachedmethod descriptor directly: @cachedmethod must be")


def test_kill_457():
    assert "be the outermost decorator, and decorating class methods, static methods" in _direct_call_text()


def test_kill_458():
    assert _direct_call_text().endswith("static methods or properties is not supported")


def test_kill_472():
    class Owner:
        @cachetools.cachedmethod(lambda self: {})
        def method(self):
            return 1

    assert _error_text(lambda: Owner.method()) == "Cannot call @cachedmethod through the class without an instance"


def test_kill_473():
    _all_names_importable("cachetools.func", "fifo_cache")


def test_kill_474():
    _all_names_importable("cachetools.func", "lfu_cache")


def test_kill_475():
    _all_names_importable("cachetools.func", "lru_cache")


def test_kill_476():
    _all_names_importable("cachetools.func", "rr_cache")


def test_kill_477():
    _all_names_importable("cachetools.func", "ttl_cache")


def _default_maxsize(decorator):
    return decorator()(lambda x: x).cache_parameters()["maxsize"]


def test_kill_484():
    assert _default_maxsize(cache_func.fifo_cache) == 128


def test_kill_492():
    assert _default_maxsize(cache_func.lfu_cache) == 128


def test_kill_500():
    assert _default_maxsize(cache_func.lru_cache) == 128


def test_kill_508():
    assert _default_maxsize(cache_func.rr_cache) == 128


def test_kill_516():
    assert _default_maxsize(cache_func.ttl_cache) == 128


def test_kill_517():
    clock, calls = Clock(), []
    cached = cache_func.ttl_cache(timer=clock)(lambda x: calls.append(x) or x)
    cached(1)
    clock.now = 600.5  # past the default ttl of 600 s
    cached(1)
    assert calls == [1, 1]


def test_kill_525():
    _all_names_importable("cachetools.keys", "hashkey")


def test_kill_526():
    _all_names_importable("cachetools.keys", "methodkey")


def test_kill_527():
    _all_names_importable("cachetools.keys", "typedkey")


def test_kill_528():
    _all_names_importable("cachetools.keys", "typedmethodkey")


assert keys  # imported so a broken keys module fails at import, as the sweep's tests would
