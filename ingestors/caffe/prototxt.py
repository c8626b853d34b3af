"""Read the protobuf text format, as Caffe's solver and net `.prototxt` files use it.

Caffe reads these files with protobuf's TextFormat; we have no schema here, so values are
typed by how they are written: `100` is an int, `0.01`, `2.0E-4`, `.5`, `1e-3`, `inf` and
`nan` are floats, `true`/`false` are bools, quoted text is a string, and a bare identifier
(an enum value such as `GPU` or `NESTEROV`) stays a string. A field written twice becomes a
list, in file order, and stays a list. Messages (`name { ... }`, `name: { ... }`,
`name < ... >`) become dicts.

`normalize_solver` then applies what Caffe itself does to a SolverParameter: the old enum
`solver_type: ADAM` becomes `type: "Adam"`, and no type at all means SGD.

Standard library only: this runs after every caffe command.
"""

from __future__ import annotations

import re

from provgraph.errors import PrototxtError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any




# One token per match, tried in this order; `bad` catches what nothing else does.
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![\w.]))
  | (?P<word>-?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[:{}<>\[\],;./])
  | (?P<bad>["'][^\n]*|.)
    """,
    re.VERBOSE,
)
_INTEGER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)")
_FLOAT_WORDS = {"inf": float("inf"), "infinity": float("inf"), "nan": float("nan")}
_BOOL_WORDS = {"true": True, "True": True, "false": False, "False": False}
_SIMPLE_ESCAPES = {
    "n": b"\n", "t": b"\t", "r": b"\r", "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v",
    "\\": b"\\", "'": b"'", '"': b'"', "?": b"?",
}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|[xX]([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})"
                     r"|U([0-9a-fA-F]{8})|(.))", re.S)
_CLOSERS = {"{": "}", "<": ">"}
# protobuf's own TextFormat parser refuses deeper nesting by default, and so do we.
MAX_DEPTH = 100

# SolverParameter.SolverType, by name and by number, and the registry names Caffe maps it to.
SOLVER_TYPES = {
    "SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
    "ADADELTA": "AdaDelta", "ADAM": "Adam",
}
_SOLVER_TYPE_NUMBERS = dict(enumerate(SOLVER_TYPES.values()))
# SolverParameter fields declared `float`: `base_lr: 1` is 1.0 to Caffe, so it is to us.
SOLVER_FLOAT_FIELDS = frozenset({
    "base_lr", "gamma", "power", "momentum", "momentum2", "weight_decay", "clip_gradients",
    "delta", "rms_decay",
})


class _Token:
    """One lexical token: its kind (`string`, `number`, `word`, `punct`...), text and line."""

    __slots__ = ("kind", "line", "text")

    def __init__(self, kind: str, text: str, line: int) -> None:
        self.kind, self.text, self.line = kind, text, line


def parse(text: str) -> dict[str, Any]:
    """Parse protobuf text format into nested dicts; raise PrototxtError on a syntax error."""
    return _Parser(_tokens(text)).message_body()


def _tokens(text: str) -> list[_Token]:
    """Split text into tokens, dropping spaces and comments but counting lines."""
    tokens: list[_Token] = []
    line = 1
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "bad"
        value = match.group()
        if kind == "newline":
            line += 1
        elif kind == "bad":
            raise PrototxtError(_bad_token_message(value), line)
        elif kind not in ("space", "comment"):
            tokens.append(_Token(kind, value, line))
    return tokens


def _bad_token_message(text: str) -> str:
    if text[:1] in ("'", '"'):
        return "unterminated string"
    return f"unexpected character {text!r}"


class _Parser:
    """Recursive descent over the tokens of one file."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1].line if self.tokens else 1
            raise PrototxtError(f"unexpected end of input, expected {expected}", last)
        self.index += 1
        return token

    def message_body(self, closer: str = "", opening: _Token | None = None,
                     depth: int = 0) -> dict[str, Any]:
        """Read fields up to closer (or the end of input for the top level)."""
        if depth > MAX_DEPTH:
            raise PrototxtError(f"messages nested deeper than {MAX_DEPTH}", opening.line
                                if opening else 1)
        fields: dict[str, Any] = {}
        while True:
            token = self.peek()
            if token is None:
                if closer and opening is not None:
                    raise PrototxtError(f"missing {closer!r} to close the message opened on "
                                        f"line {opening.line}", self.tokens[-1].line)
                return fields
            if _is(token, ",", ";"):
                self.index += 1  # fields may be separated by commas or semicolons
            elif _is(token, "}", ">"):
                if token.text != closer:
                    raise PrototxtError(f"unexpected {token.text!r}", token.line)
                self.index += 1
                return fields
            else:
                self.field(fields, depth)

    def field(self, fields: dict[str, Any], depth: int) -> None:
        """Read one `name: value`, `name { ... }` or `name: [ ... ]` into fields."""
        name = self.field_name()
        token = self.take(f"':' or '{{' after {name.text!r}")
        colon = _is(token, ":")
        if colon:
            token = self.take(f"a value for {name.text!r}")
        if _is(token, "{", "<"):
            _store(fields, name.text, self.message_body(_CLOSERS[token.text], token, depth + 1))
        elif _is(token, "["):
            _store_list(fields, name.text, self.list_values(token, depth))
        elif not colon:
            raise PrototxtError(f"expected ':' after {name.text!r}", token.line)
        else:
            _store(fields, name.text, self.scalar(token))

    def field_name(self) -> _Token:
        """A name, or an extension's full name in brackets (`[my.ext]`), kept as written."""
        name = self.take("a field name")
        if _is(name, "["):
            parts = []
            while not _is(part := self.take("']'"), "]"):
                if part.kind != "word" and not _is(part, ".", "/"):
                    raise PrototxtError(f"unexpected {part.text!r} in an extension name",
                                        part.line)
                parts.append(part.text)
            return _Token("word", "[" + "".join(parts) + "]", name.line)
        if name.kind != "word" or name.text.startswith("-"):
            raise PrototxtError(f"expected a field name, found {name.text!r}", name.line)
        return name

    def list_values(self, opening: _Token, depth: int) -> list[Any]:
        """`[1, 2, 3]` or `[{...}, {...}]`: protobuf's short form of a repeated field."""
        values: list[Any] = []
        token = self.take("a value or ']'")
        if _is(token, "]"):
            return values
        while True:
            if _is(token, "{", "<"):
                values.append(self.message_body(_CLOSERS[token.text], token, depth + 1))
            else:
                values.append(self.scalar(token))
            token = self.take("',' or ']'")
            if _is(token, "]"):
                return values
            if not _is(token, ","):
                raise PrototxtError(f"expected ',' or ']' in the list opened on line "
                                    f"{opening.line}, found {token.text!r}", token.line)
            token = self.take("a value")

    def scalar(self, token: _Token) -> Any:
        """A value: adjacent strings are concatenated, as protobuf does."""
        if token.kind == "string":
            parts = [_unquote(token)]
            following = self.peek()
            while following is not None and following.kind == "string":
                parts.append(_unquote(self.take("a string")))
                following = self.peek()
            return "".join(parts)
        if token.kind == "number":
            return _number(token.text)
        if token.kind == "word":
            return _word(token)
        raise PrototxtError(f"expected a value, found {token.text!r}", token.line)


def _is(token: _Token, *punctuation: str) -> bool:
    return token.kind == "punct" and token.text in punctuation


def _store(fields: dict[str, Any], name: str, value: Any) -> None:
    """A field seen again becomes a list, in order; once a list, always a list."""
    if name not in fields:
        fields[name] = value
    elif isinstance(fields[name], list):
        fields[name].append(value)
    else:
        fields[name] = [fields[name], value]


def _store_list(fields: dict[str, Any], name: str, values: list[Any]) -> None:
    """`name: [a, b]` is always a list, and extends what earlier lines gave the field."""
    previous = fields.get(name)
    if previous is None:
        fields[name] = list(values)
    elif isinstance(previous, list):
        previous.extend(values)
    else:
        fields[name] = [previous, *values]


def _number(text: str) -> int | float:
    if _INTEGER.fullmatch(text):
        return int(text, 0) if "x" in text.lower() else int(text)
    return float(text.rstrip("fF"))


def _word(token: _Token) -> Any:
    """An identifier: a bool, inf/nan, or an enum value kept as its name."""
    text = token.text
    if text in _BOOL_WORDS:
        return _BOOL_WORDS[text]
    sign = -1.0 if text.startswith("-") else 1.0
    special = _FLOAT_WORDS.get(text.lstrip("-").lower())
    if special is not None:
        return sign * special
    if text.startswith("-"):
        raise PrototxtError(f"expected a number, found {text!r}", token.line)
    return text


def _unquote(token: _Token) -> str:
    """Undo C escapes; octal and hex escapes are bytes, so the result is decoded as UTF-8."""
    body = token.text[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        out += body[position : match.start()].encode("utf-8")
        out += _escape_bytes(match, token.line)
        position = match.end()
    out += body[position:].encode("utf-8")
    return out.decode("utf-8", errors="replace")


def _escape_bytes(match: re.Match[str], line: int) -> bytes:
    octal, hexa, short_unicode, long_unicode, simple = match.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    if short_unicode or long_unicode:
        code = int(short_unicode or long_unicode, 16)
        if code > 0x10FFFF:
            raise PrototxtError(f"invalid escape {match.group()!r}", line)
        return chr(code).encode("utf-8", errors="replace")
    if simple in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[simple]
    raise PrototxtError(f"invalid escape {match.group()!r}", line)


def normalize_solver(params: dict[str, Any]) -> dict[str, Any]:
    """A SolverParameter as Caffe sees it after its own upgrade step.

    Caffe (UpgradeSolverAsNeeded) turns the enum `solver_type` into the string `type`, and a
    solver without either is SGD. Declared-float fields written as ints are floats, so that
    `base_lr` has one type across every run of a project.
    """
    solver = dict(params)
    legacy = solver.pop("solver_type", None)
    if "type" in solver:
        solver["type"] = _solver_type_name(solver["type"])
    elif legacy is not None:
        solver["type"] = _solver_type_name(legacy)
    else:
        solver["type"] = "SGD"
    for name in SOLVER_FLOAT_FIELDS & solver.keys():
        solver[name] = _as_float(solver[name])
    return solver


def _solver_type_name(value: Any) -> Any:
    """`ADAM` or 5 (the enum) becomes "Adam" (the registry name); a string type stays."""
    if isinstance(value, list):  # repeated by mistake: Caffe keeps the last one
        value = value[-1] if value else "SGD"
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _SOLVER_TYPE_NUMBERS.get(value, value)
    if isinstance(value, str):
        return SOLVER_TYPES.get(value, value)
    return value


def _as_float(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_float(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
