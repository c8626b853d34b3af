"""Tell options, option-arguments and operands apart by the POSIX utility argument syntax.

IEEE Std 1003.1, "Utility Argument Syntax" and "Utility Syntax Guidelines", say how a
command line is read: `-abc` groups flags, `-o value` and `-ovalue` give an option its
argument, `--` ends the options, a lone `-` is an operand. Telling them apart is what lets
the recorder guess which words name the files a command reads and writes.

Which letters take an argument is not in the command line: `-of` may be `-o f` or `-o -f`.
We only know it for the utilities in SPECS. For any other utility we follow the strict
rules and never guess: a word like `-abc` stays one option without argument.

Standard library only: this module sits on the hot path of every `prov` call.
"""

from __future__ import annotations

import functools
import os
import re
from collections import namedtuple
from types import MappingProxyType

from provgraph.ingestors import Ingestor

_FLAG, _REQUIRED, _OPTIONAL = "flag", "required", "optional"

# Long options that name an output file, whatever the utility (compared without dashes).
_OUTPUT_LONG_NAMES = frozenset(
    {"output", "out", "outfile", "output-file", "output_file", "output-dir", "output_dir",
     "outdir"}
)
# `python3.11` is run as python, `gcc-12` as gcc.
_VERSIONED = re.compile(r"(.+?)-?\d+(?:\.\d+)*")


# Spec's fields and their defaults (a named tuple: cheaper to import than a dataclass).
_SPEC_FIELDS = {
    "short": None,
    "long_arguments": frozenset(),
    "outputs": frozenset(),
    "permute": False,
    "kind": "utility",
    "single_dash_long": False,
    "old_style": False,
    "options_end_at_unknown": False,
    "stop_options": frozenset(),
    "program_options": frozenset(),
    "module_options": frozenset(),
    "subcommands": MappingProxyType({}),
    "subcommand_default": None,
    "generic_outputs": True,
}


class Spec(namedtuple("Spec", list(_SPEC_FIELDS), defaults=list(_SPEC_FIELDS.values()))):
    """How one utility reads its arguments.

    short: getopt-style letters, `o:` takes an argument (attached or the next word), `o::`
        takes one only when attached; None means the letters are unknown, so a word like
        `-abc` stays one option.
    long_arguments: long option names, without dashes, that take the next word as argument.
    outputs: option names, as written, whose argument names a file the utility writes.
    permute: options may follow operands (GNU); otherwise the first operand ends them.
    kind: "utility"; "interpreter" (the first operand is a script, and every word after
        it belongs to the script); or "subcommand" (the first operand names a subcommand).
    single_dash_long: `-name` is a long option (gflags, compilers); a letter of `short`
        that takes an argument still reads `-ovalue` and `-o value`.
    old_style: the first word may be a dash-less group of letters (`tar cvf x.tar dir`).
    options_end_at_unknown: a word with a letter not in `short` is an operand, and so is
        every word after it (find, whose expression starts with `-name`).
    stop_options: interpreter options after which every word is an operand (`python -c`).
    program_options: interpreter options whose argument is the program, so no script
        operand follows (`perl -e`).
    module_options: interpreter options that name a module to run as the program.
    subcommands: specs for the words after a given subcommand.
    subcommand_default: spec for the words after any other subcommand; None means the
        generic GNU rules, which know no letters.
    generic_outputs: whether `--output FILE` and its kin name output files here.

    """

    __slots__ = ()


class ParsedCommand(
    namedtuple("ParsedCommand", "utility subcommand options option_arguments operands outputs")
):
    """A command line sorted into the parts POSIX names; options and arguments pair up.

    Fields:
        utility: str
        subcommand: str | None
        options: list[str]
        option_arguments: list[str]
        operands: list[str]
        outputs: list[str]
    """

    __slots__ = ()


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNKNOWN = Spec()
_GENERIC = Spec(permute=True)

_CAFFE_FLAGS = _names(
    "solver model snapshot weights gpu iterations phase level stage sighup_effect"
    " sigint_effect"
)
_CAFFE_ARGUMENTS = Spec(single_dash_long=True, long_arguments=_CAFFE_FLAGS, permute=True)

_GIT_SUBCOMMANDS = {
    "commit": Spec(
        short="aC:c:eF:m:npqsS::t:u::vz",
        long_arguments=_names(
            "message file reuse-message reedit-message template author date fixup squash"
            " cleanup trailer pathspec-from-file"
        ),
        permute=True,
    ),
    "tag": Spec(
        short="adefF:lm:n::su:v",
        long_arguments=_names("message file local-user cleanup sort format contains"
                              " no-contains merged no-merged points-at"),
        permute=True,
    ),
    "merge": Spec(short="eF:m:nqs:vX:",
                  long_arguments=_names("message file strategy strategy-option into-name"),
                  permute=True),
    "clone": Spec(
        short="b:c:j:lno:qsu:v",
        long_arguments=_names("branch origin config depth jobs reference separate-git-dir"
                              " template upload-pack shallow-since shallow-exclude filter"),
        permute=True,
    ),
    "checkout": Spec(short="b:B:fmpqt", long_arguments=_names("orphan conflict"),
                     permute=True),
    "switch": Spec(short="c:C:dfmqt",
                   long_arguments=_names("create force-create orphan conflict"),
                   permute=True),
}

_DOCKER_RUN = Spec(
    short="a:c:de:h:il:m:p:Ptu:v:w:",
    long_arguments=_names(
        "name env env-file volume publish workdir user memory hostname label network"
        " entrypoint mount gpus platform cpus shm-size device add-host cidfile attach"
    ),
    outputs=frozenset({"--cidfile"}),
)
_DOCKER_SUBCOMMANDS = {
    "run": _DOCKER_RUN,
    "create": _DOCKER_RUN,
    "exec": Spec(short="de:itu:w:", long_arguments=_names("env env-file user workdir"
                                                           " detach-keys")),
    "build": Spec(
        short="f:o:qt:",
        long_arguments=_names("file tag build-arg target platform label network secret"
                              " ssh cache-from cache-to progress iidfile metadata-file"),
        outputs=frozenset({"-o", "--output", "--iidfile", "--metadata-file"}),
        permute=True,
    ),
}

_PIP_SUBCOMMANDS = {
    "install": Spec(
        short="c:e:f:i:r:t:Uqv",
        long_arguments=_names(
            "requirement constraint editable target index-url extra-index-url find-links"
            " prefix root src upgrade-strategy platform python-version implementation abi"
            " only-binary no-binary progress-bar report log"
        ),
        outputs=frozenset({"-t", "--target", "--report", "--log"}),
        permute=True,
    ),
    "download": Spec(
        short="c:d:e:f:i:r:qv",
        long_arguments=_names("requirement constraint dest editable find-links index-url"
                              " extra-index-url platform python-version log"),
        outputs=frozenset({"-d", "--dest", "--log"}),
        permute=True,
    ),
    "wheel": Spec(
        short="c:e:f:i:r:w:qv",
        long_arguments=_names("requirement constraint wheel-dir editable find-links"
                              " index-url extra-index-url log"),
        outputs=frozenset({"-w", "--wheel-dir", "--log"}),
        permute=True,
    ),
}

_CONDA_PACKAGES = Spec(short="c:n:p:qvy", long_arguments=_names("name prefix channel file"),
                       permute=True)
_CONDA_SUBCOMMANDS = {name: _CONDA_PACKAGES for name in ("create", "install", "update",
                                                         "remove")}

_DVC_OUTPUTS = frozenset(
    {"-o", "-O", "--outs", "--outs-no-cache", "--outs-persist", "--outs-persist-no-cache",
     "-m", "-M", "--metrics", "--metrics-no-cache", "--plots", "--plots-no-cache"}
)
_DVC_SUBCOMMANDS = {
    # `dvc run [options] command...`: the words of the command are its own, never dvc's.
    "run": Spec(
        short="d:fm:M:n:o:O:p:qvw:",
        long_arguments=_names(
            "name deps outs outs-no-cache outs-persist outs-persist-no-cache metrics"
            " metrics-no-cache plots plots-no-cache params wdir desc"
        ),
        outputs=_DVC_OUTPUTS,
    ),
}

_CARGO_BUILD = Spec(
    short="F:j:p:qrv",
    long_arguments=_names("package bin example test bench features target target-dir"
                          " manifest-path jobs profile message-format color config"),
    outputs=frozenset({"--target-dir"}),
    permute=True,
)
_CARGO_SUBCOMMANDS = {name: _CARGO_BUILD for name in ("build", "run", "test", "check",
                                                      "bench")}

_KUBECTL_ARGUMENTS = Spec(
    short="f:k:l:n:o:",
    long_arguments=_names("filename kustomize namespace output selector context kubeconfig"),
    permute=True,
    generic_outputs=False,  # kubectl's --output is a format, not a file
)

_GZIP = Spec(short="cdfhklLnNqrS:tvV123456789", long_arguments=_names("suffix"), permute=True)
_GREP = Spec(
    short="aA:B:bC:cD:d:EFGe:f:HhIiLlm:noPqRrsTUuvwxyZz",
    long_arguments=_names(
        "regexp file max-count label after-context before-context context include exclude"
        " exclude-from exclude-dir binary-files devices directories group-separator"
    ),
    permute=True,
)
_AWK = Spec(short="F:f:v:e:E:i:l:W:bcCghMnNOPrsStVy",
            long_arguments=_names("field-separator file assign source exec include load"))
_GCC = Spec(
    short="o:I:L:l:D:U:x:",
    single_dash_long=True,
    long_arguments=_names("isystem idirafter iquote imacros include iprefix iwithprefix MF"
                          " MT MQ Xlinker Xassembler Xpreprocessor aux-info"),
    outputs=frozenset({"-o", "-MF"}),
    permute=True,
)
_SHELL = Spec(
    kind="interpreter",
    short="c:o:O:abBCDefhHiklmnprstuvxEPT",
    long_arguments=_names("rcfile init-file"),
    stop_options=frozenset({"-c"}),
    program_options=frozenset({"-c"}),
)
_PYTHON = Spec(
    kind="interpreter",
    short="bBdEhiIOPqsSuvVxW:X:c:m:",
    long_arguments=_names("check-hash-based-pycs"),
    stop_options=frozenset({"-c", "-m"}),
    program_options=frozenset({"-c"}),
    module_options=frozenset({"-m"}),
)
_NODE = Spec(
    kind="interpreter",
    short="ce:hip:r:vC:",
    long_arguments=_names("eval print require import loader experimental-loader input-type"
                          " conditions title inspect-port env-file"),
    program_options=frozenset({"-e", "-p", "--eval", "--print"}),
)

SPECS: dict[str, Spec] = {
    "sort": Spec(
        short="bcCdfghik:mMno:rRsS:t:T:uVz",
        long_arguments=_names("key output field-separator buffer-size temporary-directory"
                              " parallel files0-from compress-program sort random-source"
                              " batch-size"),
        outputs=frozenset({"-o", "--output"}),
        permute=True,
    ),
    "cut": Spec(short="b:c:d:f:nsz",
                long_arguments=_names("bytes characters delimiter fields output-delimiter"),
                permute=True),
    "head": Spec(short="c:n:qvz", long_arguments=_names("bytes lines"), permute=True),
    "tail": Spec(short="c:fFn:qs:vz",
                 long_arguments=_names("bytes lines pid sleep-interval max-unchanged-stats"),
                 permute=True),
    "wc": Spec(short="clmwL", long_arguments=_names("files0-from"), permute=True),
    "cat": Spec(short="AbeEnstTuv", permute=True),
    "grep": _GREP,
    "egrep": _GREP,
    "fgrep": _GREP,
    "sed": Spec(short="nEe:f:i::l:rsuz", long_arguments=_names("expression file line-length"),
                permute=True),
    "awk": _AWK,
    "gawk": _AWK,
    "mawk": _AWK,
    "nawk": _AWK,
    "tr": Spec(short="cCdst", permute=True),
    "uniq": Spec(short="cdDf:is:uw:z",
                 long_arguments=_names("skip-fields skip-chars check-chars"), permute=True),
    "paste": Spec(short="d:sz", long_arguments=_names("delimiters"), permute=True),
    "join": Spec(short="a:e:ij:o:t:v:z1:2:", permute=True),
    "cp": Spec(short="abdfHilLnPprRsS:t:TuvxZ", long_arguments=_names("target-directory suffix"),
               outputs=frozenset({"-t", "--target-directory"}), permute=True),
    "mv": Spec(short="bfinS:t:TuvZ", long_arguments=_names("target-directory suffix"),
               outputs=frozenset({"-t", "--target-directory"}), permute=True),
    "rm": Spec(short="dfiIrRv", permute=True),
    "ln": Spec(short="bdfFinLPrsS:t:Tv", long_arguments=_names("target-directory suffix"),
               outputs=frozenset({"-t", "--target-directory"}), permute=True),
    "mkdir": Spec(short="m:pvZ", long_arguments=_names("mode"), permute=True),
    "touch": Spec(short="acd:fhmr:t:", long_arguments=_names("date reference time"),
                  permute=True),
    "tar": Spec(
        short="AcdrtuxajJzZvpkmOPSWwBGhilMnoRsUf:C:T:X:b:g:H:K:L:N:V:F:I:",
        long_arguments=_names(
            "file directory files-from exclude-from exclude blocking-factor"
            " listed-incremental format starting-file tape-length newer after-date label"
            " info-script new-volume-script use-compress-program owner group mode mtime"
            " transform xform strip-components suffix index-file"
        ),
        permute=True,
        old_style=True,
    ),
    "gzip": _GZIP,
    "gunzip": _GZIP,
    "zcat": _GZIP,
    # find [-H] [-L] [-P] [-D debug] [-Olevel] [starting-point...] [expression]
    "find": Spec(short="HLPD:O::", options_end_at_unknown=True),
    "tee": Spec(short="aip", permute=True),
    "ls": Spec(
        short="aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1I:T:w:",
        long_arguments=_names("block-size format hide ignore indicator-style quoting-style"
                              " sort tabsize time time-style width"),
        permute=True,
    ),
    "diff": Spec(
        short="abBcC:dD:eEF:iI:lL:nNpqrsS:tTuU:wW:x:X:yZ",
        long_arguments=_names(
            "ifdef show-function-line ignore-matching-lines label starting-file width"
            " exclude exclude-from line-format old-line-format new-line-format"
            " unchanged-line-format old-group-format new-group-format"
            " unchanged-group-format changed-group-format horizon-lines to-file from-file"
            " tabsize palette"
        ),
        permute=True,
    ),
    "cmp": Spec(short="bi:ln:sv", long_arguments=_names("ignore-initial bytes"), permute=True),
    "comm": Spec(short="123z", long_arguments=_names("output-delimiter"), permute=True),
    "split": Spec(short="a:b:C:del:n:t:ux",
                  long_arguments=_names("suffix-length additional-suffix bytes line-bytes"
                                        " lines number separator filter"),
                  permute=True),
    # The first operand is the command to run: its options are its own.
    "xargs": Spec(short="0a:d:E:e::I:i::L:l::n:oP:prs:tx",
                  long_arguments=_names("arg-file delimiter max-args max-procs max-chars"
                                        " process-slot-var")),
    "curl": Spec(
        short="o:d:H:X:u:A:e:b:c:D:F:K:T:w:x:r:m:C:E:U:Q:t:P:y:Y:z:OsSLfkvIiJN#gGlnqRZ0123456Vj",
        long_arguments=_names(
            "output output-dir data data-raw data-binary data-urlencode header request user"
            " user-agent referer cookie cookie-jar dump-header form form-string config"
            " upload-file write-out proxy range max-time connect-timeout continue-at cert"
            " key cacert retry retry-delay retry-max-time limit-rate max-filesize url"
        ),
        outputs=frozenset({"-o", "--output", "-D", "--dump-header", "-c", "--cookie-jar"}),
        permute=True,
    ),
    "wget": Spec(
        short="e:o:a:i:B:t:O:T:w:Q:P:U:l:A:R:D:I:X:n:bqvdFcNSxEkKprmLHhV",
        long_arguments=_names(
            "execute output-file append-output input-file base tries output-document"
            " timeout wait quota directory-prefix user-agent level accept reject domains"
            " include-directories exclude-directories user password post-data post-file"
            " header load-cookies save-cookies"
        ),
        outputs=frozenset({"-O", "--output-document", "-o", "--output-file", "-a",
                           "--append-output", "-P", "--directory-prefix", "--save-cookies"}),
        permute=True,
    ),
    "gcc": _GCC,
    "cc": _GCC,
    "g++": _GCC,
    "c++": _GCC,
    "clang": _GCC,
    "clang++": _GCC,
    "make": Spec(
        short="f:C:j::I:o:W:l::O::eiknpqrsStvwBdL",
        long_arguments=_names("file makefile directory include-dir old-file assume-old"
                              " new-file what-if assume-new eval"),
        permute=True,
    ),
    "python": _PYTHON,
    "Rscript": Spec(kind="interpreter", short="e:", program_options=frozenset({"-e"})),
    "node": _NODE,
    "nodejs": _NODE,
    "bash": _SHELL,
    "sh": _SHELL,
    "dash": _SHELL,
    "zsh": _SHELL,
    "perl": Spec(kind="interpreter", short="e:E:I:M:m:i::l::0::x::C::d::D::F::acnpsStTuUvVwWXh",
                 program_options=frozenset({"-e", "-E"})),
    "ruby": Spec(kind="interpreter", short="e:I:r:C:E:0::F::W::x::T::acdhlnpsSvwy",
                 long_arguments=_names("enable disable encoding external-encoding"
                                       " internal-encoding dump"),
                 program_options=frozenset({"-e"})),
    "julia": Spec(kind="interpreter", short="e:E:L:p:t:J:C:O::g::iqvh",
                  long_arguments=_names("eval print load procs threads sysimage cpu-target"
                                        " machine-file startup-file history-file"),
                  program_options=frozenset({"-e", "-E", "--eval", "--print"})),
    "jq": Spec(short="acCef:jL:nrRsSV",
               # --arg, --argjson, --slurpfile and --rawfile take two words; we keep the first.
               long_arguments=_names("from-file indent arg argjson slurpfile rawfile args"
                                     " jsonargs"),
               permute=True),
    "git": Spec(kind="subcommand", short="C:c:pPvh",
                long_arguments=_names("git-dir work-tree namespace config-env super-prefix"),
                subcommands=_GIT_SUBCOMMANDS),
    "caffe": Spec(kind="subcommand", single_dash_long=True, long_arguments=_CAFFE_FLAGS,
                  subcommand_default=_CAFFE_ARGUMENTS),
    "caffe.bin": Spec(kind="subcommand", single_dash_long=True, long_arguments=_CAFFE_FLAGS,
                      subcommand_default=_CAFFE_ARGUMENTS),
    "docker": Spec(kind="subcommand", short="c:DH:l:",
                   long_arguments=_names("config context host log-level tlscacert tlscert"
                                         " tlskey"),
                   subcommands=_DOCKER_SUBCOMMANDS),
    "pip": Spec(kind="subcommand",
                long_arguments=_names("proxy log cache-dir timeout retries exists-action"
                                      " trusted-host cert client-cert python"),
                outputs=frozenset({"--log"}),
                subcommands=_PIP_SUBCOMMANDS),
    "conda": Spec(kind="subcommand", subcommands=_CONDA_SUBCOMMANDS),
    "mamba": Spec(kind="subcommand", subcommands=_CONDA_SUBCOMMANDS),
    "dvc": Spec(kind="subcommand", short="qvh", subcommands=_DVC_SUBCOMMANDS),
    "cargo": Spec(kind="subcommand", short="qvZ:C:",
                  long_arguments=_names("color config manifest-path"),
                  subcommands=_CARGO_SUBCOMMANDS),
    "npm": Spec(kind="subcommand", long_arguments=_names("prefix")),
    "kubectl": Spec(kind="subcommand", short="n:s:",
                    long_arguments=_names("kubeconfig context cluster namespace user server"),
                    subcommand_default=_KUBECTL_ARGUMENTS, generic_outputs=False),
}


def parse_arguments(argv: list[str]) -> ParsedCommand:
    """Sort argv into utility, subcommand, options with their arguments, and operands."""
    if not argv:
        raise ValueError("argv is empty: there is no utility to parse")
    utility = os.path.basename(argv[0])
    spec = spec_for(utility)
    words = list(argv[1:])
    if spec.kind == "interpreter":
        return _parse_interpreter(utility, words, spec)
    if spec.kind == "subcommand":
        return _parse_subcommand_tool(utility, words, spec)
    pairs, operands = _parse_words(words, spec)
    return _command(utility, None, pairs, operands, _outputs(pairs, spec))


def spec_for(utility: str) -> Spec:
    """The spec of a utility by its basename; versioned names (`python3.11`) count too."""
    if utility in SPECS:
        return SPECS[utility]
    match = _VERSIONED.fullmatch(utility)
    if match and match.group(1) in SPECS:
        return SPECS[match.group(1)]
    return _UNKNOWN


def candidate_inputs(parsed: ParsedCommand) -> list[str]:
    """Words that may name files the command reads: operands and non-output arguments.

    Outputs are removed from the option arguments only, once per output, so that
    `sort -o f f` still reads f.
    """
    arguments = [argument for argument in parsed.option_arguments if argument]
    for output in parsed.outputs:
        arguments.remove(output)
    return list(dict.fromkeys([*parsed.operands, *arguments]))


def script_path(script: str, context: dict) -> str:
    """An interpreter's script as a path from the repository's root when it is a file inside
    the repository (`train.py` run from `src/` is `src/train.py`), so one script run from
    two folders is one script; otherwise as typed (`-m pkg.mod`, a script elsewhere)."""
    cwd, root = context.get("cwd"), context.get("root")
    if not cwd or not root or script.startswith("-"):
        return script
    full = os.path.normpath(os.path.join(cwd, os.path.expanduser(script)))
    rel = os.path.relpath(full, root)
    if rel.startswith(".." + os.sep) or rel in (".", "..") or not os.path.isfile(full):
        return script
    return rel.replace(os.sep, "/")


class PosixIngestor(Ingestor):
    """The fallback ingestor: what POSIX argument syntax alone says about any command.

    Its keys are not namespaced (they are the activity's own `utility`, `options`, ...), and
    it runs for every command of a pipeline, inline: it is pure and fast."""

    name = "posix"
    pattern = re.compile(r".*", re.S)

    def before(self, context: dict) -> dict:
        """Describe the activity and its candidate files before the command runs."""
        parsed = parse_arguments(list(context["argv"]))
        activity: dict = {"utility": parsed.utility}
        if parsed.subcommand is not None:
            activity["subcommand"] = parsed.subcommand
            if spec_for(parsed.utility).kind == "interpreter":
                activity["subcommand"] = script_path(parsed.subcommand, context)
        activity["options"] = list(parsed.options)
        activity["option_arguments"] = list(parsed.option_arguments)
        activity["operands"] = list(parsed.operands)
        return {
            "activity": activity,
            "inputs": candidate_inputs(parsed),
            "outputs": list(parsed.outputs),
        }

    def after(self, context: dict) -> dict | None:
        """Nothing to add once the command has run: the arguments said all we know."""
        return None


def _parse_interpreter(utility: str, words: list[str], spec: Spec) -> ParsedCommand:
    """`python [options] script args`: every word from the script on belongs to the script."""
    pairs, index = _leading_options(words, 0, spec)
    if index < len(words) and words[index] == "--":
        index += 1
    operands = words[index:]
    names = {name for name, _ in pairs}
    module = [f"{name} {argument}" for name, argument in pairs if name in spec.module_options]
    if module:
        subcommand: str | None = module[-1]
    elif names & spec.program_options or not operands:
        subcommand = None
    else:
        subcommand = operands[0]
    return _command(utility, subcommand, pairs, operands, _outputs(pairs, spec))


def _parse_subcommand_tool(utility: str, words: list[str], spec: Spec) -> ParsedCommand:
    """`git [options] commit [options] operands`: the first operand names the subcommand."""
    pairs, index = _leading_options(words, 0, spec)
    if index < len(words) and words[index] == "--":
        index += 1
    if index == len(words):
        return _command(utility, None, pairs, [], _outputs(pairs, spec))
    subcommand = words[index]
    sub_spec = spec.subcommands.get(subcommand) or spec.subcommand_default or _GENERIC
    sub_pairs, operands = _parse_words(words[index + 1 :], sub_spec)
    outputs = _outputs(pairs, spec) + _outputs(sub_pairs, sub_spec)
    return _command(utility, subcommand, pairs + sub_pairs, [subcommand, *operands], outputs)


def _command(
    utility: str,
    subcommand: str | None,
    pairs: list[tuple[str, str]],
    operands: list[str],
    outputs: list[str],
) -> ParsedCommand:
    return ParsedCommand(
        utility=utility,
        subcommand=subcommand,
        options=[name for name, _ in pairs],
        option_arguments=[argument for _, argument in pairs],
        operands=list(operands),
        outputs=outputs,
    )


def _outputs(pairs: list[tuple[str, str]], spec: Spec) -> list[str]:
    return [argument for name, argument in pairs if argument and _is_output(name, spec)]


def _is_output(name: str, spec: Spec) -> bool:
    if name in spec.outputs:
        return True
    long_form = name.startswith("--") or spec.single_dash_long
    return spec.generic_outputs and long_form and name.lstrip("-") in _OUTPUT_LONG_NAMES


def _parse_words(words: list[str], spec: Spec) -> tuple[list[tuple[str, str]], list[str]]:
    """Read options and operands; with permutation, options may follow operands."""
    pairs: list[tuple[str, str]] = []
    operands: list[str] = []
    index = 0
    if spec.old_style and words and not words[0].startswith("-"):
        pairs, index = _old_style_group(words, spec)
    while True:
        found, index = _leading_options(words, index, spec)
        pairs.extend(found)
        if index == len(words):
            return pairs, operands
        if words[index] == "--":
            return pairs, operands + words[index + 1 :]
        if not spec.permute:
            return pairs, operands + words[index:]
        operands.append(words[index])
        index += 1


def _leading_options(
    words: list[str], index: int, spec: Spec
) -> tuple[list[tuple[str, str]], int]:
    """Read options from words[index] up to the first operand or `--`; return where it ends."""
    pairs: list[tuple[str, str]] = []
    while index < len(words) and _is_option(words[index], spec):
        found, index = _read_option(words, index, spec)
        pairs.extend(found)
        if any(name in spec.stop_options for name, _ in found):
            break
    return pairs, index


def _is_option(word: str, spec: Spec) -> bool:
    """Options start with `-`; a lone `-` is an operand (stdin) and `--` ends the options."""
    if len(word) < 2 or not word.startswith("-") or word == "--":
        return False
    if spec.options_end_at_unknown and not word.startswith("--"):
        return _letters_known(word[1:], _short_table(spec.short or ""))
    return True


def _letters_known(letters: str, table: dict[str, str]) -> bool:
    for letter in letters:
        kind = table.get(letter)
        if kind is None:
            return False
        if kind != _FLAG:
            return True  # the rest of the word is the letter's argument
    return True


def _read_option(words: list[str], index: int, spec: Spec) -> tuple[list[tuple[str, str]], int]:
    """Read the option word at words[index]: its (name, argument) pairs and the next index."""
    word = words[index]
    if word.startswith("--"):
        return _read_long(words, index, spec)
    if spec.single_dash_long:
        return _read_single_dash(words, index, spec)
    if spec.short is None:
        return [(word, "")], index + 1  # letters unknown: the word stays one option
    return _read_group(words, index, spec)


def _read_long(words: list[str], index: int, spec: Spec) -> tuple[list[tuple[str, str]], int]:
    """`--name=value`, or `--name value` when the spec says `--name` takes an argument."""
    name, sep, value = words[index].partition("=")
    if sep:
        return [(name, value)], index + 1
    if _takes_argument(name, spec):
        return _separate_argument(words, index, name)
    return [(name, "")], index + 1


def _takes_argument(name: str, spec: Spec) -> bool:
    bare = name.lstrip("-")
    return bare in spec.long_arguments or (spec.generic_outputs and bare in _OUTPUT_LONG_NAMES)


def _read_single_dash(
    words: list[str], index: int, spec: Spec
) -> tuple[list[tuple[str, str]], int]:
    """gflags and compiler style: `-solver x`, `-solver=x`, `-ofile`, `-o file`, `-Wall`."""
    word = words[index]
    if _takes_argument(word, spec):
        return _separate_argument(words, index, word)
    kind = _short_table(spec.short or "").get(word[1])
    if kind == _REQUIRED:
        return _required_argument(words, index, word[:2], word[2:])
    if kind == _OPTIONAL:
        return _optional_argument(words, index, word[:2], word[2:])
    name, sep, value = word.partition("=")
    return [(name, value if sep else "")], index + 1


def _read_group(words: list[str], index: int, spec: Spec) -> tuple[list[tuple[str, str]], int]:
    """`-xvf file`: flags grouped in one word; a letter taking an argument ends the group."""
    letters = words[index][1:]
    table = _short_table(spec.short or "")
    if letters[0].isdigit() and letters[0] not in table:
        return [(words[index], "")], index + 1  # `head -5`: an obsolescent numeric option
    pairs: list[tuple[str, str]] = []
    for position, letter in enumerate(letters):
        name, rest = "-" + letter, letters[position + 1 :]
        kind = table.get(letter, _FLAG)
        if kind == _REQUIRED:
            found, following = _required_argument(words, index, name, rest)
            return pairs + found, following
        if kind == _OPTIONAL:
            found, following = _optional_argument(words, index, name, rest)
            return pairs + found, following
        pairs.append((name, ""))
    return pairs, index + 1


def _old_style_group(words: list[str], spec: Spec) -> tuple[list[tuple[str, str]], int]:
    """`tar cvf out.tar dir`: dash-less letters whose arguments follow in order."""
    table = _short_table(spec.short or "")
    pairs: list[tuple[str, str]] = []
    following = 1
    for letter in words[0]:
        if table.get(letter) == _REQUIRED and following < len(words):
            pairs.append(("-" + letter, words[following]))
            following += 1
        else:
            pairs.append(("-" + letter, ""))
    return pairs, following


def _required_argument(
    words: list[str], index: int, name: str, attached: str
) -> tuple[list[tuple[str, str]], int]:
    if attached:
        return [(name, attached)], index + 1
    return _separate_argument(words, index, name)


def _optional_argument(
    words: list[str], index: int, name: str, attached: str
) -> tuple[list[tuple[str, str]], int]:
    """An optional argument is attached; a separate number is taken too, as make's `-j 4`."""
    if attached:
        return [(name, attached)], index + 1
    if index + 1 < len(words) and words[index + 1].isdecimal():
        return [(name, words[index + 1])], index + 2
    return [(name, "")], index + 1


def _separate_argument(
    words: list[str], index: int, name: str
) -> tuple[list[tuple[str, str]], int]:
    """The next word is the argument; at the end of the line the option gets none."""
    if index + 1 < len(words):
        return [(name, words[index + 1])], index + 2
    return [(name, "")], index + 1


@functools.cache
def _short_table(short: str) -> dict[str, str]:
    """Read a getopt string into {letter: flag, required or optional}."""
    table: dict[str, str] = {}
    for position, letter in enumerate(short):
        if letter == ":":
            continue
        if short.startswith("::", position + 1):
            table[letter] = _OPTIONAL
        elif short.startswith(":", position + 1):
            table[letter] = _REQUIRED
        else:
            table[letter] = _FLAG
    return table
