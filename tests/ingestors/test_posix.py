"""The POSIX utility argument syntax: options, option-arguments, operands, outputs."""

from __future__ import annotations

import pytest

from provgraph.ingestors.posix import (
    ParsedCommand,
    PosixIngestor,
    candidate_inputs,
    parse_arguments,
)
from provgraph.ingestors.posix_specs import SPECS


def parsed(command: str) -> ParsedCommand:
    return parse_arguments(command.split())


def pairs(result: ParsedCommand) -> list[tuple[str, str]]:
    assert len(result.options) == len(result.option_arguments)
    return list(zip(result.options, result.option_arguments, strict=True))


@pytest.mark.parametrize(
    ("command", "options", "operands", "outputs"),
    [
        ("tar -xvf a.tar", [("-x", ""), ("-v", ""), ("-f", "a.tar")], [], []),
        ("tar xvf a.tar", [("-x", ""), ("-v", ""), ("-f", "a.tar")], [], []),
        ("tar -C out -xzf a.tgz", [("-C", "out"), ("-x", ""), ("-z", ""), ("-f", "a.tgz")],
         [], []),
        ("sort -o sorted.csv clean.csv", [("-o", "sorted.csv")], ["clean.csv"], ["sorted.csv"]),
        ("sort -osorted.csv -t, -k2 clean.csv", [("-o", "sorted.csv"), ("-t", ","), ("-k", "2")],
         ["clean.csv"], ["sorted.csv"]),
        ("sort --output=s.csv --key 2 c.csv", [("--output", "s.csv"), ("--key", "2")], ["c.csv"],
         ["s.csv"]),
        ("sort -rn -- -file", [("-r", ""), ("-n", "")], ["-file"], []),
        ("cut -d, -f2 sorted.csv", [("-d", ","), ("-f", "2")], ["sorted.csv"], []),
        ("head -n5 x", [("-n", "5")], ["x"], []),
        ("head -n 5 x", [("-n", "5")], ["x"], []),
        ("head -5 x", [("-5", "")], ["x"], []),
        ("grep -e pat -i file", [("-e", "pat"), ("-i", "")], ["file"], []),
        ("egrep -v x f", [("-v", "")], ["x", "f"], []),
        ("ls file -l", [("-l", "")], ["file"], []),
        ("cat - x", [], ["-", "x"], []),
        ("wc -l -- -", [("-l", "")], ["-"], []),
        ("comm -12 a b", [("-1", ""), ("-2", "")], ["a", "b"], []),
        ("join -1 2 -2 3 a b", [("-1", "2"), ("-2", "3")], ["a", "b"], []),
        ("sed -i.bak s/a/b/ f", [("-i", ".bak")], ["s/a/b/", "f"], []),
        ("sed -i -e s/a/b/ f", [("-i", ""), ("-e", "s/a/b/")], ["f"], []),
        ("awk -F, -v n=1 -f prog.awk data", [("-F", ","), ("-v", "n=1"), ("-f", "prog.awk")],
         ["data"], []),
        ("cp -t dest a b", [("-t", "dest")], ["a", "b"], ["dest"]),
        ("gzip -9 -c f", [("-9", ""), ("-c", "")], ["f"], []),
        ("find . -name *.py -type f", [], [".", "-name", "*.py", "-type", "f"], []),
        ("find -L src -newer x", [("-L", "")], ["src", "-newer", "x"], []),
        ("find -name x", [], ["-name", "x"], []),
        ("xargs -n 1 grep -l x", [("-n", "1")], ["grep", "-l", "x"], []),
        ("curl -sSL -o page.html https://x", [("-s", ""), ("-S", ""), ("-L", ""),
                                              ("-o", "page.html")], ["https://x"], ["page.html"]),
        ("wget -O data.zip https://x", [("-O", "data.zip")], ["https://x"], ["data.zip"]),
        ("gcc -O2 -Wall -std=c99 -Iinc -I inc2 -DX=1 -o prog a.c -lm",
         [("-O2", ""), ("-Wall", ""), ("-std", "c99"), ("-I", "inc"), ("-I", "inc2"),
          ("-D", "X=1"), ("-o", "prog"), ("-l", "m")], ["a.c"], ["prog"]),
        ("g++ -c a.cc -o a.o", [("-c", ""), ("-o", "a.o")], ["a.cc"], ["a.o"]),
        ("make -f build.mk -C sub -j 4 all", [("-f", "build.mk"), ("-C", "sub"), ("-j", "4")],
         ["all"], []),
        ("make -j8 test", [("-j", "8")], ["test"], []),
        ("jq -r .name data.json", [("-r", "")], [".name", "data.json"], []),
        ("tee -a log", [("-a", "")], ["log"], []),
    ],
)
def test_known_utilities(command, options, operands, outputs):
    result = parsed(command)
    assert result.utility == command.split()[0]
    assert result.subcommand is None
    assert pairs(result) == options
    assert result.operands == operands
    assert result.outputs == outputs


@pytest.mark.parametrize(
    ("command", "options", "operands"),
    [
        # Letters of an unknown utility may take arguments: the word stays one option.
        ("mytool -abc x", [("-abc", "")], ["x"]),
        ("mytool --long=value x", [("--long", "value")], ["x"]),
        ("mytool --long value", [("--long", "")], ["value"]),
        # Strict POSIX: the first operand ends the options.
        ("mytool x -y --z", [], ["x", "-y", "--z"]),
        ("mytool -a -- -b", [("-a", "")], ["-b"]),
        ("mytool - -a", [], ["-", "-a"]),
        ("mytool", [], []),
    ],
)
def test_unknown_utilities_follow_the_strict_rules(command, options, operands):
    result = parsed(command)
    assert pairs(result) == options
    assert result.operands == operands
    assert result.outputs == []


@pytest.mark.parametrize(
    ("command", "options", "outputs"),
    [
        ("mytool --output out.txt in.txt", [("--output", "out.txt")], ["out.txt"]),
        ("mytool --out=o --outfile p --output-file q in.txt",
         [("--out", "o"), ("--outfile", "p"), ("--output-file", "q")], ["o", "p", "q"]),
        ("mytool --output_file o --output-dir d --outdir e in.txt",
         [("--output_file", "o"), ("--output-dir", "d"), ("--outdir", "e")], ["o", "d", "e"]),
    ],
)
def test_output_long_options_of_any_utility(command, options, outputs):
    result = parsed(command)
    assert pairs(result) == options
    assert result.operands == ["in.txt"]
    assert result.outputs == outputs


@pytest.mark.parametrize(
    ("command", "subcommand", "options", "operands"),
    [
        ("python train.py a b", "train.py", [], ["train.py", "a", "b"]),
        ("python train.py --lr 0.1", "train.py", [], ["train.py", "--lr", "0.1"]),
        ("python -u -W ignore train.py -v", "train.py", [("-u", ""), ("-W", "ignore")],
         ["train.py", "-v"]),
        ("python -OO x.py", "x.py", [("-O", ""), ("-O", "")], ["x.py"]),
        ("python -m pkg.mod args", "-m pkg.mod", [("-m", "pkg.mod")], ["args"]),
        ("python -mpkg.mod -x", "-m pkg.mod", [("-m", "pkg.mod")], ["-x"]),
        ("python -c CODE a -b", None, [("-c", "CODE")], ["a", "-b"]),
        ("python - a", "-", [], ["-", "a"]),
        ("python", None, [], []),
        ("/usr/bin/python3.11 x.py", "x.py", [], ["x.py"]),
        ("python3 -B x.py", "x.py", [("-B", "")], ["x.py"]),
        ("Rscript analysis.R data.csv", "analysis.R", [], ["analysis.R", "data.csv"]),
        ("Rscript -e 1+1", None, [("-e", "1+1")], []),
        ("node --require ts-node/register app.js --port 3",
         "app.js", [("--require", "ts-node/register")], ["app.js", "--port", "3"]),
        ("bash -ex run.sh a", "run.sh", [("-e", ""), ("-x", "")], ["run.sh", "a"]),
        ("sh -c CMD name arg", None, [("-c", "CMD")], ["name", "arg"]),
        ("perl -ne CODE file", None, [("-n", ""), ("-e", "CODE")], ["file"]),
        ("ruby -Ilib script.rb", "script.rb", [("-I", "lib")], ["script.rb"]),
        ("julia --threads 4 sim.jl", "sim.jl", [("--threads", "4")], ["sim.jl"]),
    ],
)
def test_interpreters(command, subcommand, options, operands):
    result = parsed(command)
    assert result.subcommand == subcommand
    assert pairs(result) == options
    assert result.operands == operands


def test_utility_is_the_basename_as_written():
    assert parse_arguments(["/usr/bin/python3.11", "x.py"]).utility == "python3.11"
    assert parse_arguments(["./bin/sort", "-o", "o", "i"]).outputs == ["o"]
    assert parse_arguments(["gcc-12", "-o", "prog", "a.c"]).outputs == ["prog"]
    assert parse_arguments(["x264", "-abc"]).options == ["-abc"]


@pytest.mark.parametrize(
    ("command", "subcommand", "options", "operands"),
    [
        ("caffe train --solver=solver.prototxt", "train", [("--solver", "solver.prototxt")],
         ["train"]),
        ("caffe train -solver s.prototxt -gpu 0", "train",
         [("-solver", "s.prototxt"), ("-gpu", "0")], ["train"]),
        ("caffe.bin test -model m.prototxt -weights=w.caffemodel --iterations 10", "test",
         [("-model", "m.prototxt"), ("-weights", "w.caffemodel"), ("--iterations", "10")],
         ["test"]),
        ("git commit -m msg", "commit", [("-m", "msg")], ["commit"]),
        ("git commit -am msg file", "commit", [("-a", ""), ("-m", "msg")], ["commit", "file"]),
        ("git -C repo log --oneline -- f", "log", [("-C", "repo"), ("--oneline", "")],
         ["log", "f"]),
        ("git status -sb", "status", [("-sb", "")], ["status"]),
        ("git", None, [], []),
        ("docker run --rm -v a:/b img cmd -x", "run", [("--rm", ""), ("-v", "a:/b")],
         ["run", "img", "cmd", "-x"]),
        ("pip3 install -r req.txt", "install", [("-r", "req.txt")], ["install"]),
        ("conda create -n env python=3.11", "create", [("-n", "env")], ["create", "python=3.11"]),
        ("cargo build --release -p core", "build", [("--release", ""), ("-p", "core")],
         ["build"]),
        ("npm run build -- --watch", "run", [], ["run", "build", "--watch"]),
        ("dvc run -n s -d in -o out python x.py -o y", "run",
         [("-n", "s"), ("-d", "in"), ("-o", "out")], ["run", "python", "x.py", "-o", "y"]),
        ("kubectl apply -f deploy.yaml", "apply", [("-f", "deploy.yaml")],
         ["apply"]),
    ],
)
def test_subcommand_tools(command, subcommand, options, operands):
    result = parsed(command)
    assert result.subcommand == subcommand
    assert pairs(result) == options
    assert result.operands == operands


def test_subcommand_outputs():
    assert parsed("dvc run -n s -d in -o out cmd").outputs == ["out"]
    assert parsed("pip download -d wheels x").outputs == ["wheels"]
    assert parsed("docker build --iidfile id.txt .").outputs == ["id.txt"]
    # kubectl's --output is a format, never a file.
    assert parsed("kubectl get pods --output json").outputs == []


def test_specs_cover_the_utilities_we_promise():
    promised = (
        "sort cut head tail wc cat grep egrep fgrep sed awk tr uniq paste join cp mv rm ln"
        " mkdir touch tar gzip gunzip zcat find tee ls diff cmp comm split xargs curl wget"
        " gcc cc g++ make python Rscript node bash sh perl ruby julia jq git caffe caffe.bin"
        " docker pip conda dvc cargo npm kubectl"
    )
    assert set(promised.split()) <= set(SPECS)


def test_candidate_inputs_leave_out_outputs_but_keep_operands():
    assert candidate_inputs(parsed("sort -o f -k 2 f")) == ["f", "2"]
    assert candidate_inputs(parsed("sort -o out.csv in.csv")) == ["in.csv"]
    assert candidate_inputs(parsed("cat a a")) == ["a"]


def test_ingestor_before():
    ingestor = PosixIngestor()
    fragment = ingestor.before({"argv": ["sort", "-o", "sorted.csv", "-t,", "clean.csv"]})
    assert fragment == {
        "activity": {
            "utility": "sort",
            "options": ["-o", "-t"],
            "option_arguments": ["sorted.csv", ","],
            "operands": ["clean.csv"],
        },
        "inputs": ["clean.csv", ","],
        "outputs": ["sorted.csv"],
    }


def test_ingestor_before_names_the_subcommand():
    fragment = PosixIngestor().before({"argv": ["python", "train.py", "--lr", "0.1"]})
    assert fragment["activity"] == {
        "utility": "python",
        "subcommand": "train.py",
        "options": [],
        "option_arguments": [],
        "operands": ["train.py", "--lr", "0.1"],
    }
    assert fragment["inputs"] == ["train.py", "--lr", "0.1"]
    assert fragment["outputs"] == []


def test_ingestor_matches_every_command_and_adds_nothing_after():
    ingestor = PosixIngestor()
    assert ingestor.name == "posix"
    assert ingestor.pattern.search("anything at all\nover lines")
    assert ingestor.pattern.search("")
    assert ingestor.after({"argv": ["true"]}) is None


def test_empty_argv_is_an_error():
    with pytest.raises(ValueError, match="argv is empty"):
        parse_arguments([])
