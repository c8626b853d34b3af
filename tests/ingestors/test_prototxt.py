"""The protobuf text format reader, on real Caffe solvers and on the format's corners."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from provgraph.ingestors.caffe.prototxt import PrototxtError, normalize_solver, parse

SOLVERS = Path(__file__).parents[1] / "data" / "caffe" / "solvers"

# Every solver of the shared test data, with every field it sets, as Caffe would read it.
EXPECTED_SOLVERS = {
    "BVLC_caffe__lenet_solver_rmsprop.prototxt": {
        "net": "examples/mnist/lenet_train_test.prototxt", "test_iter": 100,
        "test_interval": 500, "base_lr": 0.01, "momentum": 0.0, "weight_decay": 0.0005,
        "lr_policy": "inv", "gamma": 0.0001, "power": 0.75, "display": 100, "max_iter": 10000,
        "snapshot": 5000, "snapshot_prefix": "examples/mnist/lenet_rmsprop",
        "solver_mode": "GPU", "type": "RMSProp", "rms_decay": 0.98,
    },
    "bobhuynh_Intel__solver.prototxt": {
        "net": "/workspace/dlsdk/jobs/caffe/models/b5143a70-cfeb-433e-b066-800d9d8263f9/"
               "train_val.prototxt",
        "base_lr": 0.01, "weight_decay": 2.0e-4, "regularization_type": "L2",
        "lr_policy": "poly", "power": 0.5, "display": 2, "max_iter": 960, "snapshot": 32,
        "snapshot_prefix": "/workspace/dlsdk/jobs/caffe/models/"
                           "b5143a70-cfeb-433e-b066-800d9d8263f9/snapshot",
        "solver_mode": "CPU", "clip_gradients": -1.0, "type": "SGD", "momentum": 0.9,
    },
    "ducha-aiki_caffenet-benchmark__solver_bn2.prototxt": {
        "net": "models/my_models/caffenet128_1x3.prototxt", "test_iter": 500,
        "test_interval": 1000, "base_lr": 0.035, "lr_policy": "step", "gamma": 0.915,
        "stepsize": 2000, "display": 20, "max_iter": 160000, "momentum": 0.9,
        "weight_decay": 0.0005, "snapshot": 10000, "snapshot_prefix": "models/my_models/1x3",
        "solver_mode": "GPU", "type": "SGD",
    },
    "qiexing_caffe-regression__fkp_solver.prototxt": {
        "net": "caffe-regression/kaggle_prototxt/fkp_net.prototxt", "test_iter": 1,
        "test_interval": 500, "base_lr": 0.001, "weight_decay": 0.0005, "momentum": 0.9,
        "lr_policy": "fixed", "gamma": 0.0001, "power": 0.75, "stepsize": 100000,
        "display": 100, "max_iter": 1000000, "snapshot": 5000,
        "snapshot_prefix": "caffe-regression/kaggle_prototxt/model/fkp", "solver_mode": "GPU",
        "type": "Nesterov",
    },
}


def test_every_shared_solver_is_checked() -> None:
    assert sorted(p.name for p in SOLVERS.glob("*.prototxt")) == sorted(EXPECTED_SOLVERS)


@pytest.mark.parametrize("name", sorted(EXPECTED_SOLVERS))
def test_real_solver(name: str) -> None:
    solver = normalize_solver(parse((SOLVERS / name).read_text()))
    assert solver == EXPECTED_SOLVERS[name]
    assert list(solver) == list(EXPECTED_SOLVERS[name])  # file order is kept
    for key, value in EXPECTED_SOLVERS[name].items():
        assert type(solver[key]) is type(value), key


def test_raw_parse_keeps_the_enum_and_types_by_spelling() -> None:
    raw = parse((SOLVERS / "qiexing_caffe-regression__fkp_solver.prototxt").read_text())
    assert raw["solver_type"] == "NESTEROV"  # `solver_type : NESTEROV`, space before colon
    assert "type" not in raw
    intel = parse((SOLVERS / "bobhuynh_Intel__solver.prototxt").read_text())
    assert intel["weight_decay"] == 2.0e-4 and intel["clip_gradients"] == -1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1", {"a": 1}),
        ("a:1", {"a": 1}),
        ("a : 1", {"a": 1}),
        ("a: -3", {"a": -3}),
        ("a: 0x1F", {"a": 31}),
        ("a: 2.0E-4", {"a": 2.0e-4}),
        ("a: 1e-3", {"a": 1e-3}),
        ("a: .5", {"a": 0.5}),
        ("a: -1.5e+2", {"a": -150.0}),
        ("a: 5.", {"a": 5.0}),
        ("a: 1.5f", {"a": 1.5}),
        ("a: 1e3", {"a": 1000.0}),
        ("a: true b: false", {"a": True, "b": False}),
        ("a: True b: False", {"a": True, "b": False}),
        ("a: GPU", {"a": "GPU"}),
        ('a: "x"', {"a": "x"}),
        ("a: 'x'", {"a": "x"}),
        ('a: "it\'s"', {"a": "it's"}),
        ("a: 'say \"hi\"'", {"a": 'say "hi"'}),
        (r'a: "tab\tnl\nq\"s\'b\\"', {"a": "tab\tnl\nq\"s'b\\"}),
        (r'a: "\101\x42\u00e9"', {"a": "ABé"}),
        (r'a: "\303\251"', {"a": "é"}),  # octal escapes are UTF-8 bytes
        ('a: "x" "y" \'z\'', {"a": "xyz"}),  # adjacent strings concatenate
        ('a: "# not a comment"', {"a": "# not a comment"}),
        ('a: ""', {"a": ""}),
        ("a: 1 a: 2 a: 3", {"a": [1, 2, 3]}),
        ("a: [1, 2] a: 3", {"a": [1, 2, 3]}),
        ("a: 1 a: [2, 3]", {"a": [1, 2, 3]}),
        ("a: [7]", {"a": [7]}),
        ("a: []", {"a": []}),
        ("m { x: 1 }", {"m": {"x": 1}}),
        ("m: { x: 1 }", {"m": {"x": 1}}),
        ("m < x: 1 >", {"m": {"x": 1}}),
        ("m: < x: 1 >", {"m": {"x": 1}}),
        ("m {}", {"m": {}}),
        ("m { n { o { p: 1 } } }", {"m": {"n": {"o": {"p": 1}}}}),
        ("m { x: 1 } m { x: 2 }", {"m": [{"x": 1}, {"x": 2}]}),
        ("m: [{ x: 1 }, < x: 2 >]", {"m": [{"x": 1}, {"x": 2}]}),
        ("a: 1, b: 2; c: 3", {"a": 1, "b": 2, "c": 3}),
        ("# only a comment\n", {}),
        ("", {}),
        ("a: 1 # trailing\n# whole line\nb { # after brace\n c: 2 # inside\n}#end",
         {"a": 1, "b": {"c": 2}}),
        ("a: 1\r\nb: 2\r\n", {"a": 1, "b": 2}),
        ("[ext.field]: 3", {"[ext.field]": 3}),
    ],
)
def test_syntax(text: str, expected: dict) -> None:
    assert parse(text) == expected


def test_repeated_field_stays_a_list_and_keeps_order() -> None:
    parsed = parse("test_iter: 100\nbase_lr: 0.1\ntest_iter: 50\ntest_iter: 25\n")
    assert parsed == {"test_iter": [100, 50, 25], "base_lr": 0.1}
    assert list(parsed) == ["test_iter", "base_lr"]


def test_special_floats() -> None:
    parsed = parse("a: inf b: -inf c: nan d: -Infinity e: NaN")
    assert parsed["a"] == math.inf and parsed["b"] == -math.inf
    assert math.isnan(parsed["c"]) and math.isnan(parsed["e"])
    assert parsed["d"] == -math.inf


def test_a_real_net_definition_with_repeated_layers() -> None:
    text = """
    name: "LeNet"
    layer {
      name: "mnist"
      type: "Data"
      top: "data"
      top: "label"
      include { phase: TRAIN }
      transform_param { scale: 0.00390625 }
      data_param { source: "examples/mnist/mnist_train_lmdb" batch_size: 64 backend: LMDB }
    }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
    """
    net = parse(text)
    assert net["name"] == "LeNet"
    first, second = net["layer"]
    assert first["top"] == ["data", "label"]
    assert first["include"] == {"phase": "TRAIN"}
    assert first["data_param"]["source"] == "examples/mnist/mnist_train_lmdb"
    assert first["transform_param"]["scale"] == 0.00390625
    assert second["bottom"] == ["ip2", "label"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb:", 2, "unexpected end of input"),
        ("a: 1\nb 2", 2, "expected ':' after 'b'"),
        ("a: 1\n\nm {\n x: 1\n", 4, "missing '}' to close the message opened on line 3"),
        ("a: 1\n}", 2, "unexpected '}'"),
        ("m { x: 1 >", 1, "unexpected '>'"),
        ('a: 1\nb: "open', 2, "unterminated string"),
        ("a: 'open\nb: 2", 1, "unterminated string"),
        ("a: 1\n\n\nb: [1 2]", 4, "expected ',' or ']'"),
        ("a: 1\nb: @", 2, "unexpected character '@'"),
        ("a: 1\n: 2", 2, "expected a field name"),
        ("a: 1\n3: 2", 2, "expected a field name"),
        ("a: {\n b: }", 2, "expected a value, found '}'"),
        ('a: "bad \\q escape"', 1, "invalid escape"),
        ("a: -foo", 1, "expected a number"),
        ("m {" * 150, 1, "nested deeper than"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PrototxtError) as caught:
        parse(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("params", "solver_type"),
    [
        ({}, "SGD"),
        ({"type": "Adam"}, "Adam"),
        ({"solver_type": "ADAM"}, "Adam"),
        ({"solver_type": "SGD"}, "SGD"),
        ({"solver_type": "NESTEROV"}, "Nesterov"),
        ({"solver_type": "ADAGRAD"}, "AdaGrad"),
        ({"solver_type": "RMSPROP"}, "RMSProp"),
        ({"solver_type": "ADADELTA"}, "AdaDelta"),
        ({"solver_type": 5}, "Adam"),  # the enum by number
        ({"type": "RMSProp", "solver_type": "ADAM"}, "RMSProp"),  # the string wins
        ({"type": "MyCustomSolver"}, "MyCustomSolver"),  # a registered custom solver stays
    ],
)
def test_normalize_solver_type(params: dict, solver_type: str) -> None:
    solver = normalize_solver(params)
    assert solver["type"] == solver_type
    assert "solver_type" not in solver


def test_normalize_solver_makes_declared_floats_floats_and_copies() -> None:
    params = {"base_lr": 1, "momentum": 0, "max_iter": 100, "display": 20}
    solver = normalize_solver(params)
    assert solver["base_lr"] == 1.0 and type(solver["base_lr"]) is float
    assert type(solver["momentum"]) is float
    assert type(solver["max_iter"]) is int  # an int field stays an int
    assert params == {"base_lr": 1, "momentum": 0, "max_iter": 100, "display": 20}
