"""Tell options, option-arguments and operands apart by the POSIX utility argument syntax.

IEEE Std 1003.1, "Utility Argument Syntax" and "Utility Syntax Guidelines", say how a
command line is read: `-abc` groups flags, `-o value` and `-ovalue` give an option its
argument, `--` ends the options, a lone `-` is an operand. Telling them apart is what lets
the recorder guess which words name the files a command reads and writes.

Which letters take an argument is not in the command line: `-of` may be `-o f` or `-o -f`.
We only know it for the utilities listed in `provgraph.ingestors.posix_specs`. For any
other utility we follow the strict rules and never guess: a word like `-abc` stays one
option without argument.

Standard library only: this module sits on the hot path of every `prov` call.
"""

from __future__ import annotations

import functools
import os
import re
from collections import namedtuple

from provgraph.ingestors import Ingestor
from provgraph.ingestors.posix_specs import GENERIC, Spec, spec_for

_FLAG, _REQUIRED, _OPTIONAL = "flag", "required", "optional"

# Long options that name an output file, whatever the utility (compared without dashes).
_OUTPUT_LONG_NAMES = frozenset(
    {"output", "out", "outfile", "output-file", "output_file", "output-dir", "output_dir",
     "outdir"}
)

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
    sub_spec = spec.subcommands.get(subcommand) or spec.subcommand_default or GENERIC
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
