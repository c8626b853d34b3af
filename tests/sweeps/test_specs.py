"""KEY=SPEC: lists, ranges (geometric and arithmetic, exact in decimal), single values."""

from __future__ import annotations

import pytest

from provgraph.errors import BadInput
from provgraph.specs import expand, parse_assignment, typed


@pytest.mark.parametrize(("spec", "values"), [
    ("0.001:0.1:x10", ["0.001", "0.01", "0.1"]),  # floats would give 0.010000000000000002
    ("16:128:+16", ["16", "32", "48", "64", "80", "96", "112", "128"]),
    ("0:1:+0.1", ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]),
    ("1:100:x3", ["1", "3", "9", "27", "81"]),  # the end is not hit: not included
    ("16:100:+16", ["16", "32", "48", "64", "80", "96"]),
    ("1:0.1:x0.1", ["1", "0.1"]),
    ("1:0:+-0.5", ["1", "0.5", "0"]),
    ("1e-3:1e-1:x10", ["0.001", "0.01", "0.1"]),
    ("0.1,0.01", ["0.1", "0.01"]),
    ("adam, sgd ,adam", ["adam", "sgd"]),
    ("0.5", ["0.5"]),
    ("http://x:8080", ["http://x:8080"]),  # colons without a range's shape: one value
])
def test_specs(spec, values):
    assert expand("k", spec) == values


@pytest.mark.parametrize("spec", ["1:0:+1", "0:1:x0", "0:1:x1", "0:1:+0", "1:10:x-2",
                                  "0:8:x2", "-1:1:x2", "0.1,,0.2"])
def test_specs_that_give_nothing_are_refused(spec):
    with pytest.raises(BadInput) as caught:
        expand("lr", spec)
    assert "\n" not in str(caught.value) and "lr" in str(caught.value)


def test_a_huge_range_is_refused():
    with pytest.raises(BadInput, match="more than"):
        expand("n", "0:1e9:+1")


def test_assignments():
    assert parse_assignment("--lr=0.1,0.01") == ("--lr", "0.1,0.01")
    assert parse_assignment("params.yaml:train.lr=0.001:0.1:x10") == (
        "params.yaml:train.lr", "0.001:0.1:x10")
    for bad in ("--lr", "=0.1", "lr="):
        with pytest.raises(BadInput):
            parse_assignment(bad)


def test_typed_values_keep_a_float_a_float():
    assert typed("1", 0.5) == 1.0 and isinstance(typed("1", 0.5), float)
    assert typed("16", 8) == 16 and typed("0.01") == 0.01
    assert typed("true") is True and typed("adam") == "adam"
