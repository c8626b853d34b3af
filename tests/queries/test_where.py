"""The `--where` language and the `prov log` filters, on real captures, with the same queries
and the same answers on both indexes (the embedded DuckDB index and the real Neo4j server).

Properties other parts of provgraph give a run (parameters from config files, tags, a sweep)
are given here through the activity-properties hook (PROV_ACTIVITY_PROPERTIES)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from conftest import Repo, module_repo
from graph import either_store

from provgraph.errors import BadInput
from provgraph.queries.filters import Filters, glob_regex, parse_time, select
from provgraph.queries.where import activities, like_regex, parse

TRAIN = """\
import sys
open("data/raw.csv").read()
open("model.txt", "w").write(" ".join(sys.argv[1:]))
"""

BOB = {"PROV_AGENT": "Bob <bob@example.com>"}


def props(**values) -> dict[str, str]:
    return {"PROV_ACTIVITY_PROPERTIES": json.dumps(values)}


def capture_lab(repo: Repo) -> dict[str, str]:
    """Six real captures; returns their ids as a1..a6 (a1 oldest)."""
    repo.write("train.py", TRAIN)
    repo.commit_all("train")
    repo.ok("mkdir", "-p", "data")
    repo.ok("touch", "data/raw.csv")  # a1, Alice
    repo.ok("python3", "train.py", "--lr", "0.1", "--epochs", "5",  # a2, Alice
            env=props(**{"params.params.yaml.lr": 0.1, "params.params.yaml.name": "base",
                         "tags": ["baseline"]}))
    repo.ok("python3", "train.py", "--lr", "0.001", "--epochs", "10",  # a3, Bob
            env={**BOB, **props(**{"params.params.yaml.lr": 0.001,
                                   "params.params.yaml.name": "small",
                                   "tags": ["best", "small-lr"], "sweep": "sw1",
                                   "sweep.trial": 1, "mixed": "5", "done": True})})
    assert repo.prov("false").returncode == 1  # a4
    assert repo.prov("sh", "-c", "exit 3").returncode == 3  # a5, Bob
    assert repo.prov("sh", "-c", "kill -INT $$", env=BOB).returncode == -2  # a6: killed by SIGINT
    with repo.store() as store:
        newest_first = [a.id for a in store.activities()]
    # mkdir is the first capture: leave it out of the names
    return dict(zip(("a6", "a5", "a4", "a3", "a2", "a1"), newest_first[:6], strict=True))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, neo4j_uri: str) -> Repo:
    repo = module_repo(tmp_path_factory, "lab")
    repo.commit_all("start")
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    repo.activities = capture_lab(repo)
    repo.ok("sync")
    return repo


@pytest.fixture(params=["embedded", "neo4j"])
def store(request, lab):
    with either_store(lab, request.param) as s:
        yield s


def short(lab: Repo, nodes) -> set[str]:
    names = {v: k for k, v in lab.activities.items()}
    return {names.get(n.id, n.name) for n in nodes}


WHERE = {
    "params.params.yaml.lr < 0.01": {"a3"},
    "params.params.yaml.lr >= 0.1": {"a2"},
    '"params.params.yaml.lr" = 0.1': {"a2"},  # a whole name quoted
    "`params.params.yaml.lr` = 1e-3": {"a3"},  # numbers compare as numbers
    "python.args.epochs in (5, 10)": {"a2", "a3"},
    "python.args.epochs in (10, 'x')": {"a3"},
    "python.args.epochs not in (5, 7)": {"a3"},
    "python.args.lr between 0.01 and 1": {"a2"},
    "python.args.lr not between 0.01 and 1": {"a3"},
    "status != 'ok' and exit_code > 1": {"a5", "a6"},
    "status = 'interrupted'": {"a6"},
    "exit_code = 1": {"a4"},
    "not exit_code = 0": {"a4", "a5", "a6"},
    "command like '%train%'": {"a2", "a3"},
    "command ilike '%TRAIN.PY%'": {"a2", "a3"},
    "command like 'python3 train.py --lr 0._ %'": {"a2"},
    "command like '%5+%'": set(),  # LIKE text, not a regular expression
    "command like '%(%'": set(),
    "command not like '%train%' and utility = 'sh'": {"a5", "a6"},
    "params.params.yaml.name = 'small'": {"a3"},
    "params.params.yaml.name > 'b'": {"a2", "a3"},  # strings in their order
    "mixed = '5'": {"a3"},
    "mixed = 5": set(),  # a string is not a number
    "not mixed = 5": set(),  # ... and the comparison stays unknown under not
    "mixed < 6": set(),
    "sweep = 'sw1' and sweep.trial = 1": {"a3"},
    "params.params.yaml.lr is null": {"a1", "a4", "a5", "a6"},
    "tags is not null": {"a2", "a3"},
    "tags = 'best'": set(),  # a list is not a string
    "done = true": {"a3"},
    "done != false": {"a3"},
    "done = 1": set(),  # a boolean is not a number
    "exit_code = 0 or params.params.yaml.lr < 0.01": {"a1", "a2", "a3"},
    "(exit_code = 0 or exit_code = 1) and not utility = 'touch'": {"a2", "a3", "a4"},
    "-1 < exit_code and 1 > exit_code and utility = 'python3'": {"a2", "a3"},
    "nothing.here = 1 or nothing.here is null and utility = 'false'": {"a4"},
}


@pytest.mark.parametrize("text", list(WHERE))
def test_where_same_answers_on_both_indexes(store, lab, text):
    found = activities(store, text)
    mine = [n for n in found if n.id in lab.activities.values()]
    assert short(lab, mine) == WHERE[text]


def test_where_keeps_the_log_order_and_the_limit(store, lab):
    found = activities(store, "exit_code >= 0")
    assert [n.id for n in found] == [n.id for n in store.activities()
                                     if n.properties.get("exit_code") is not None]
    assert [n.id for n in activities(store, "exit_code >= 0", limit=2)] == [
        n.id for n in found[:2]]


def filtered(store, lab, **filters) -> set[str]:
    found = select(store, Filters(**filters))
    return short(lab, [n for n in found if n.id in lab.activities.values()])


def test_path_filter_any_version_and_folders(store, lab):
    assert filtered(store, lab, paths=["data/raw.csv"]) == {"a1", "a2", "a3"}
    assert filtered(store, lab, paths=["data"]) == {"a1", "a2", "a3"}
    assert filtered(store, lab, paths=["model.txt"]) == {"a2", "a3"}  # v1 and v2
    assert filtered(store, lab, paths=["dat"]) == set()  # a folder is a whole name
    assert filtered(store, lab, paths=["model.txt", "data"]) == {"a1", "a2", "a3"}
    assert filtered(store, lab, paths=[""]) == {"a1", "a2", "a3"}  # the whole repository


def test_agent_command_status_tag_sweep_filters(store, lab):
    bob = filtered(store, lab, agents=["Bob"])
    assert bob == filtered(store, lab, agents=["BOB@example.com"]) == {"a3", "a6"}
    assert filtered(store, lab, agents=["alice@example.com"]) == {"a1", "a2", "a4", "a5"}
    assert filtered(store, lab, agents=["nobody"]) == set()
    assert filtered(store, lab, command="python3 train.py*") == {"a2", "a3"}
    assert filtered(store, lab, command="python3 train.py --lr 0.?0*") == {"a3"}
    assert filtered(store, lab, command="sh -c ?[e]xit*") == {"a5"}
    assert filtered(store, lab, command="[!ps]*") == {"a1", "a4"}
    assert filtered(store, lab, command="train.py") == set()  # the whole line
    assert filtered(store, lab, status="ok") == {"a1", "a2", "a3"}
    assert filtered(store, lab, status="failed") == {"a4", "a5"}
    assert filtered(store, lab, status="interrupted") == {"a6"}
    assert filtered(store, lab, tags=["best"]) == {"a3"}
    assert filtered(store, lab, tags=["best", "baseline"]) == set()  # all of them
    assert filtered(store, lab, sweep="sw1") == {"a3"}
    assert filtered(store, lab, sweep="sw2") == set()


def test_time_filters(store, lab):
    a3 = store.node(lab.activities["a3"])
    started = datetime.fromisoformat(a3.properties["started"])
    assert filtered(store, lab, since=started) == {"a3", "a4", "a5", "a6"}
    assert filtered(store, lab, until=started) == {"a1", "a2"}
    assert filtered(store, lab, since=started.isoformat(), until="now") == {"a3", "a4", "a5",
                                                                             "a6"}
    assert filtered(store, lab, since="1h") == set(lab.activities)
    assert filtered(store, lab, until="1h") == set()
    assert filtered(store, lab, since="today") == set(lab.activities)


def test_filters_combine_with_and(store, lab):
    assert filtered(store, lab, paths=["model.txt"], agents=["Bob"]) == {"a3"}
    assert filtered(store, lab, command="python3*", where="python.args.epochs > 5",
                    status="ok", tags=["small-lr"]) == {"a3"}
    assert filtered(store, lab, command="python3*", status="failed") == set()


def test_values_and_names_never_reach_the_query_text():
    where = parse("a.b = 'x'' OR 1=1 --' and \"c d\" = 1 or e like '%'';%'")
    from provgraph.queries.where import Params

    p = Params()
    sql, cypher = where.sql(p), where.cypher(p)
    for text in (sql, cypher):
        assert "OR 1=1" not in text and "c d" not in text and "a.b" not in text
    assert "x' OR 1=1 --" in p.sql and "x' OR 1=1 --" in p.cypher.values()


BAD = {
    "": "empty expression",
    "a =": "cannot parse",
    "(a = 1": "cannot parse",
    "a = 'x": "cannot parse",
    "lower(command) = 'x'": "the function lower() is not allowed",
    "x in (select 1)": "subquery",
    "exists(select 1)": "is not allowed",
    "a = 1 union select 1": "a subquery is not allowed",
    "a = 1; drop table nodes": "';' is not allowed",
    "a = b": "not with another property",
    "a + 1 > 2": "arithmetic (a + 1) is not allowed",
    "a = null": "IS NULL",
    "x is true": "only IS NULL",
    "a": "the property a alone",
    "1": "the value 1 alone",
    "a = ?": "query parameter",
    "a like 1": "LIKE takes a 'string'",
    "a = 1 x": "'x' after a value",
    "a = -'x'": "before a number",
}


@pytest.mark.parametrize("text", list(BAD))
def test_bad_where_is_one_line(text):
    with pytest.raises(BadInput) as exc:
        parse(text)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("--where")
    assert BAD[text] in message


def test_bad_status_and_time_are_one_line():
    with pytest.raises(BadInput, match="unknown status 'done': give one of ok, failed, "
                                       "interrupted"):
        Filters(status="done").condition()
    with pytest.raises(BadInput, match="'next week' is not a time"):
        Filters(since="next week").condition()


def test_times():
    now = datetime(2026, 12, 8, 15, 30).astimezone()
    assert parse_time("2h", now) == now - timedelta(hours=2)
    assert parse_time("30m", now) == now - timedelta(minutes=30)
    assert parse_time("3d", now) == now - timedelta(days=3)
    assert parse_time("2w", now) == now - timedelta(weeks=2)
    assert parse_time("today", now) == now.replace(hour=0, minute=0)
    assert parse_time("yesterday", now) == now.replace(day=7, hour=0, minute=0)
    assert parse_time("2026-12-01T09:30+01:00", now).isoformat() == "2026-12-01T09:30:00+01:00"
    local = parse_time("2026-12-01", now)
    assert local.tzinfo is not None and (local.hour, local.minute) == (0, 0)


def test_patterns():
    import re

    assert re.fullmatch(like_regex("a_c%"), "abc and more")
    assert not re.fullmatch(like_regex("a.c"), "abc")
    assert re.fullmatch(like_regex("A%", True), "abc")
    assert re.fullmatch(glob_regex("python train.py*"), "python train.py --lr 1")
    assert not re.fullmatch(glob_regex("python train.py*"), "python trainXpy --lr 1")
    assert re.fullmatch(glob_regex("[a-c]?[!x]"), "bzy")
    assert not re.fullmatch(glob_regex("[a-c]?[!x]"), "bzx")


# -- random expressions: both indexes agree with each other and with SQL's three-valued logic --

KEYS = ["exit_code", "params.params.yaml.lr", "params.params.yaml.name", "python.args.epochs",
        "mixed", "done", "tags", "command", "status", "nothing"]
LITERALS = [0, 1, 3, 5, 10, 130, -1, 0.1, 0.001, 2.5, "ok", "5", "small", "b", "", True, False]
PATTERNS = ["%", "%train%", "p%", "_alse", "%.%", "%0._%", "sh%3%"]


def literal(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def expressions():
    from hypothesis import strategies as st

    keys, values = st.sampled_from(KEYS), st.sampled_from(LITERALS)
    atoms = st.one_of(
        st.tuples(st.just("cmp"), keys, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
                  values),
        st.tuples(st.just("null"), keys, st.booleans()),
        st.tuples(st.just("in"), keys, st.lists(values, min_size=1, max_size=3)),
        st.tuples(st.just("like"), keys, st.sampled_from(PATTERNS)),
    )
    return st.recursive(atoms, lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner), st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner)), max_leaves=4)


def text_of(e) -> str:
    kind = e[0]
    if kind == "cmp":
        return f"{e[1]} {e[2]} {literal(e[3])}"
    if kind == "null":
        return f"{e[1]} is {'not ' if e[2] else ''}null"
    if kind == "in":
        return f"{e[1]} in ({', '.join(map(literal, e[2]))})"
    if kind == "like":
        return f"{e[1]} like {literal(e[2])}"
    if kind == "not":
        return f"not ({text_of(e[1])})"
    return f"({text_of(e[1])}) {kind} ({text_of(e[2])})"


def same_kind(a, b) -> bool:
    kind = lambda v: "bool" if isinstance(v, bool) else "number" if isinstance(  # noqa: E731
        v, (int, float)) else "string" if isinstance(v, str) else "other"
    return kind(a) == kind(b) != "other"


def truth(e, props):
    """SQL's three-valued answer (True, False, None) of the expression for these properties,
    computed here independently of both compilers."""
    import operator
    import re

    kind = e[0]
    if kind == "cmp" or kind == "in":
        value = props.get(e[1])
        ops = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
               ">": operator.gt, ">=": operator.ge}
        pairs = [(e[2], e[3])] if kind == "cmp" else [("=", v) for v in e[2]]
        answers = [ops[op](value, lit) if same_kind(value, lit) else None for op, lit in pairs]
        return True if True in answers else None if None in answers else False
    if kind == "null":
        return (props.get(e[1]) is None) != e[2]
    if kind == "like":
        value = props.get(e[1])
        if not isinstance(value, str):
            return None
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in e[2])
        return re.fullmatch(regex, value, re.S) is not None
    if kind == "not":
        inner = truth(e[1], props)
        return None if inner is None else not inner
    a, b = truth(e[1], props), truth(e[2], props)
    if kind == "and":
        return False if False in (a, b) else None if None in (a, b) else True
    return True if True in (a, b) else None if None in (a, b) else False


@pytest.fixture(scope="module")
def both(lab):
    from graph import neo4j_store

    with lab.store() as embedded, neo4j_store(lab) as neo4j:
        yield embedded, neo4j


def test_random_expressions_agree_on_both_indexes(both):
    from hypothesis import given, settings

    embedded, neo4j = both
    every = embedded.activities()

    @settings(max_examples=150, deadline=None)
    @given(expressions())
    def check(e):
        text = text_of(e)
        expected = [a.id for a in every if truth(e, a.properties) is True]
        assert [a.id for a in activities(embedded, text)] == expected, text
        assert sorted(a.id for a in activities(neo4j, text)) == sorted(expected), text

    check()
