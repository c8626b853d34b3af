"""Keep secrets out of the provenance record.

Command lines carry passwords, tokens and keys: `--password x`, `API_KEY=... make`,
`https://user:pass@host`, `ghp_...`. The record is meant to be committed and shared, so
every command line passes through here before it is stored. Only the secret value is
replaced, never the option or variable name: the record must still say that a password
was given, just not which. Redacting twice changes nothing, so records may be re-cleaned
with newer rules.

Standard library only, rules compiled on first use: this module sits on the hot path of
every `prov` call.
"""

from __future__ import annotations

import functools
import re
from collections import namedtuple
from collections.abc import Iterable

REDACTED = "***"

DEFAULT_OPTION_NAMES: tuple[str, ...] = (
    "password",
    "passwd",
    "pass",
    "pwd",
    "token",
    "secret",
    r"api[-_]?key",
    "apikey",
    r"access[-_]?key",
    r"secret[-_]?key",
    r"private[-_]?key",
    "auth",
    r"credentials?",
    r"client[-_]?secret",
)
"""Regex fragments of secret-bearing option and variable names (matched ignoring case)."""

# A shell word in raw text: command substitutions, quoted pieces (an unterminated one runs
# to the end, so that a broken command line cannot leak its secret), escapes and the rest.
_SHELL_VALUE = r"""(?:\$\([^)]*\)?|`[^`]*`?|'[^']*'?|"(?:[^"\\]|\\.)*"?|\\.|[^\s'"\\;&|<>()`])+"""

_TOKEN_SHAPES = "|".join(
    (
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style secret keys
        r"\bxox[baprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
        r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",  # JSON Web Tokens
    )
)

# Shell and process variables whose names look secret but are not.
_HARMLESS_VARIABLES = r"(?!(?:old)?pwd\b)"


class Rules(namedtuple("Rules", "option_name variable_name text_rules extra_rules")):
    """Compiled redaction rules; build them with compile_rules().

    Fields:
        option_name: re.Pattern[str]  # a whole option name with its dashes stripped
        variable_name: re.Pattern[str]  # the NAME of a NAME=value word
        text_rules: tuple[tuple[re.Pattern[str], int | str], ...]  # (pattern, group to replace)
        extra_rules: tuple[tuple[re.Pattern[str], int], ...]  # the project's own patterns
    """

    __slots__ = ()


def compile_rules(extra_patterns: Iterable[str] = (), extra_names: Iterable[str] = ()) -> Rules:
    """Compile the default rules plus the project's own.

    extra_names are regex fragments of secret option and variable names, like
    DEFAULT_OPTION_NAMES. extra_patterns are regexes over the text: when a pattern has a
    capturing group only group 1 is replaced, else the whole match.
    """
    names = "|".join(f"(?:{name})" for name in (*DEFAULT_OPTION_NAMES, *extra_names))
    # A whole name, possibly after prefixes: `db-password`, `github_token`, not `passes`.
    option = rf"(?:[A-Za-z0-9]+[-_.])*(?:{names})s?"
    # A name holding one of the words between non-letters: `AWS_SECRET_ACCESS_KEY`.
    variable = (
        rf"{_HARMLESS_VARIABLES}(?=[A-Za-z_])[A-Za-z0-9_.]*?"
        rf"(?<![A-Za-z])(?:{names})s?(?![A-Za-z])[A-Za-z0-9_.]*"
    )
    # Each rule names the secret `value`: extra_names may hold groups of their own.
    text_rules = (
        # "--password=a b" and 'API_KEY=a b': the value runs to the closing quote.
        rf"""(?P<q>['"])(?:-{{1,2}}{option}|{variable})=(?P<value>(?:(?!(?P=q))[^\\]|\\.)*)""",
        # --password x, --password 'a b', --token="a b"; a next word `--x` is an option.
        rf"""(?<![\w'"-])-{{1,2}}{option}(?:=|[ \t]+(?!--))(?P<value>{_SHELL_VALUE})""",
        # API_KEY=x at the start of a word, and --env=API_KEY=x (not &api_key=x: a URL).
        rf"(?<![^\s;|(=]){variable}=(?P<value>{_SHELL_VALUE})",
        # scheme://user:password@host
        r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'"]*:(?P<value>[^\s/'"]+)@""",
        # ?token=x and &api_key=x in URLs
        rf"""[?&](?:[A-Za-z0-9]+[-_.])*(?:{names})s?=(?P<value>[^&#\s'"]+)""",
        # Authorization: Bearer x, X-Api-Key: x
        rf"""(?<![\w-])(?:[A-Za-z0-9]+-)*(?:{names}|authorization)s?:[ \t]+"""
        rf"""(?:(?:bearer|basic|token|digest)[ \t]+)?(?P<value>[^\s'"]+)""",
    )
    compiled: list[tuple[re.Pattern[str], int | str]] = [
        (re.compile(pattern, re.IGNORECASE), "value") for pattern in text_rules
    ]
    compiled.append((re.compile(_TOKEN_SHAPES), 0))
    extras = [re.compile(pattern) for pattern in extra_patterns]
    return Rules(
        option_name=re.compile(option, re.IGNORECASE),
        variable_name=re.compile(variable, re.IGNORECASE),
        text_rules=tuple(compiled),
        extra_rules=tuple((regex, 1 if regex.groups else 0) for regex in extras),
    )


def redact_argv(argv: list[str], rules: Rules | None = None) -> list[str]:
    """Return a copy of argv with secret values replaced by REDACTED.

    `--password x` redacts the next word unless it starts with `--` (then it is an option:
    `--no-password --host h` keeps `--host`). Short options like `-p` are left alone:
    `-p` is as often a port as a password. The project's extra patterns are matched
    against the words joined by spaces, as the user wrote them: `--dsn[= ](\\S+)` finds the
    value in the next word.
    """
    rules = rules or _default_rules()
    result: list[str] = []
    value_follows = False
    for word in argv:
        if value_follows and not word.startswith("--"):
            result.append(REDACTED)
            value_follows = False
            continue
        word, value_follows = _redact_word(word, rules)
        result.append(_apply(rules.text_rules, word))
    for pattern, group in rules.extra_rules:
        result = _redact_across_words(result, pattern, group)
    return result


def redact_text(text: str, rules: Rules | None = None) -> str:
    """Return the text, a raw shell command line or any message, with secrets replaced."""
    rules = rules or _default_rules()
    return _apply(rules.extra_rules, _apply(rules.text_rules, text))


def _apply(text_rules: Iterable[tuple[re.Pattern[str], int | str]], text: str) -> str:
    for pattern, group in text_rules:
        text = pattern.sub(functools.partial(_replace_group, group=group), text)
    return text


def _redact_across_words(words: list[str], pattern: re.Pattern[str], group: int) -> list[str]:
    """Match the pattern on the words joined by spaces; redact what it covers in each word."""
    joined = " ".join(words)
    spans = [match.span(group) for match in pattern.finditer(joined)]
    spans = [(start, end) for start, end in spans if end > start]
    if not spans:
        return words
    result = []
    offset = 0
    for word in words:
        result.append(_redact_spans(word, offset, spans))
        offset += len(word) + 1
    return result


def _redact_spans(word: str, offset: int, spans: list[tuple[int, int]]) -> str:
    """Replace the parts of a word, which starts at `offset` of the joined text, in spans."""
    local = [(max(start - offset, 0), min(end - offset, len(word))) for start, end in spans]
    for start, end in reversed(local):
        if start < end:
            word = word[:start] + REDACTED + word[end:]
    return word


def _redact_word(word: str, rules: Rules) -> tuple[str, bool]:
    """Redact one argv word as a whole; also say whether the next word is a secret value.

    Whole words matter: the value of `API_KEY=a b` in argv is `a b`, spaces and all.
    """
    name, sep, value = word.partition("=")
    if not word.startswith("-"):
        return (_redact_assignment(word) if _is_secret_assignment(word, rules) else word), False
    if rules.option_name.fullmatch(name.lstrip("-")):
        return (f"{name}={REDACTED}" if sep else word), not sep
    if _is_secret_assignment(value, rules):  # docker's --env=API_KEY=x
        return f"{name}={_redact_assignment(value)}", False
    return word, False


def _is_secret_assignment(word: str, rules: Rules) -> bool:
    name, sep, _ = word.partition("=")
    return bool(sep) and rules.variable_name.fullmatch(name) is not None


def _redact_assignment(word: str) -> str:
    name, _, _ = word.partition("=")
    return f"{name}={REDACTED}"


def _replace_group(match: re.Match[str], group: int | str) -> str:
    """Replace the given group of the match (0: all of it), keeping the text around it."""
    if group == 0:
        return REDACTED
    start, end = match.span(group)
    if start < 0:
        return match.group(0)
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + REDACTED + whole[end - offset :]


@functools.cache
def _default_rules() -> Rules:
    return compile_rules()


# Every default rule needs one of these in the text (ignoring case); most command lines have
# none, and then the rules need not even be compiled (which costs milliseconds per `prov`).
_TRIGGERS = ("pass", "pwd", "token", "secret", "key", "auth", "credential", "://", "gh",
             "github_pat", "akia", "asia", "sk-", "xox", "eyj")


class Redactor:
    """The rules of one project, compiled only when a command line could hold a secret."""

    def __init__(self, extra_patterns: Iterable[str] = (), extra_names: Iterable[str] = ()):
        self.extra = (tuple(extra_patterns), tuple(extra_names))
        self._rules: Rules | None = None

    def _needed(self, text: str) -> Rules | None:
        if not any(self.extra):
            lowered = text.lower()
            if not any(trigger in lowered for trigger in _TRIGGERS):
                return None
        if self._rules is None:
            self._rules = compile_rules(*self.extra) if any(self.extra) else _default_rules()
        return self._rules

    def argv(self, argv: list[str]) -> list[str]:
        rules = self._needed(" ".join(argv))
        return redact_argv(argv, rules) if rules else list(argv)

    def text(self, text: str) -> str:
        rules = self._needed(text)
        return redact_text(text, rules) if rules else text
