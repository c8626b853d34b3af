"""How known utilities read their arguments: the table the POSIX parser consults.

The command line does not say which option letters take an argument (`-of` may be `-o f` or
`-o -f`), nor which option names an output file; each utility's manual does. This module
writes that down, one `Spec` per utility (sort, tar, git's subcommands, python, caffe...), so
that `provgraph.ingestors.posix` can parse their command lines; a utility not listed here is
parsed by the strict rules alone (`spec_for` returns `UNKNOWN`).

To teach provgraph a utility, add its `Spec` to `SPECS`. Standard library only: this table is
read on every `prov` call.
"""

from __future__ import annotations

import re
from collections import namedtuple
from types import MappingProxyType

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


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())



#: A utility we know nothing of: strict POSIX rules, no option takes an argument.
UNKNOWN = Spec()
#: The words after a subcommand we know nothing of: GNU rules (options may follow operands).
GENERIC = Spec(permute=True)


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


def spec_for(utility: str) -> Spec:
    """The spec of a utility by its basename; versioned names (`python3.11`) count too."""
    if utility in SPECS:
        return SPECS[utility]
    match = _VERSIONED.fullmatch(utility)
    if match and match.group(1) in SPECS:
        return SPECS[match.group(1)]
    return UNKNOWN
