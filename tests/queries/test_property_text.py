"""A property value as text, the one way segmentation's patterns and summarization's labels
both read it: booleans as JSON spells them, lists item by item."""

from __future__ import annotations

from provgraph.model import ACTIVITY, Node
from provgraph.queries.segment import Predicate
from provgraph.queries.summarize import Abstraction


def test_a_pattern_matches_a_boolean_as_json_spells_it():
    assert Predicate.parse("missing=true").matches_value(True)
    assert not Predicate.parse("missing=True").matches_value(True)
    assert Predicate.parse("caffe.test.iteration=5*").matches_value([100, 500])


def test_a_label_shows_a_boolean_as_a_pattern_would_match_it():
    node = Node("a1", ACTIVITY, {"utility": "git", "git.amend": True, "tags": [1, False]})
    abstraction = Abstraction.of(activity="utility,git.amend,tags")
    assert abstraction.label(node) == "git true 1 false"
