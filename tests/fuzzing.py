"""Hypothesis tests in two sizes: a fast set in the default suite, and a ``<name>_slow`` twin under the slow marker."""

import functools
import sys

import pytest
from hypothesis import HealthCheck, given, settings

BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fuzz(*strategies, fast, slow, base=BASE, **named):
    """``@given(...)`` with ``fast`` examples, and a ``<name>_slow`` twin of ``slow`` examples under the slow marker."""

    def decorate(test):
        twin = settings(base, max_examples=slow)(given(*strategies, **named)(test))
        sys.modules[test.__module__].__dict__[f"{test.__name__}_slow"] = pytest.mark.slow(twin)
        return settings(base, max_examples=fast)(given(*strategies, **named)(test))

    return decorate


def sized(fast: int, slow: int, base: settings = BASE):
    """A ``fuzz`` decorator with a module's default sizes (each test may still pass its own)."""
    return functools.partial(fuzz, fast=fast, slow=slow, base=base)
