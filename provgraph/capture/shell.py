"""Split a command line written in shell syntax into commands we can record one by one.

`prov 'clean.sh && sort -o out.csv in.csv'` hands us one string. To record each command of
it as its own activity we must find where one command ends and the next begins, and which
words are redirections, without running a shell and without guessing. Whenever the text
holds something that cannot be split into independent simple commands (loops,
conditionals, groups, subshells, here-documents, background jobs) the caller gets the
whole string back as one unit, to run and record as it is.

Standard library only: this module sits on the hot path of every `prov` call. It reads the
text with a character scanner (`_Scanner`), not regular expressions: whether a `;` ends a
command depends on the quotes, backquotes, `$(...)` and `${...}` around it, a nesting a
scanner follows by keeping state (the standard library's shlex knows no `$(...)` either).
"""

from __future__ import annotations

from collections import namedtuple

from provgraph.errors import ShellSyntaxError

SHELL_META: frozenset[str] = frozenset(";&|<>()$`\\\"'*?[]{}~#=\n")
"""Characters that make a single argument of `prov` shell syntax rather than a program name."""

RESERVED_WORDS: frozenset[str] = frozenset(
    {"!", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function",
     "if", "in", "select", "then", "time", "until", "while", "{", "}", "[[", "]]"}
)
"""Words the shell gives a meaning of its own when they stand where a command name would."""

REDIRECT_OPERATORS: frozenset[str] = frozenset(
    {"<", ">", ">>", ">|", "<>", "&>", "&>>", ">&", "<&", "<<<"}
)

# Reserved words that start or belong to a compound command: such text is never split.
_COMPOUND_WORDS = RESERVED_WORDS - {"!", "in", "time"}
# Reserved words after which the next word is again where a command name would stand.
_COMMAND_PREFIX_WORDS = frozenset({"!", "time", "if", "then", "else", "elif", "do", "while",
                                   "until", "{"})
# Longest first, so that `&&` is not read as two `&`.
_OPERATORS = ("&>>", ";;&", "<<<", "<<-", "&&", "||", ";;", ";&", "|&", "&>", ">>", ">|",
              ">&", "<&", "<>", "<<", ";", "&", "|", "<", ">", "(", ")", "\n")
# Reserved words in front of a pipeline that change how it runs, not what runs.
_PIPELINE_PREFIX_WORDS = frozenset({"!", "time"})
_HEREDOC_OPERATORS = frozenset({"<<", "<<-"})
_LIST_OPERATORS = frozenset({";", "&&", "||", "\n"})
_PIPE_OPERATORS = frozenset({"|", "|&"})
# Subshells, function definitions, here-documents, background jobs and case clauses.
_COMPOUND_OPERATORS = frozenset({"(", ")", "&", "<<", "<<-", ";;", ";&", ";;&"})
# `&>` and `&>>` redirect both streams and take no fd number in front.
_FD_OPERATORS = REDIRECT_OPERATORS - {"&>", "&>>"}
_WORD_END = frozenset(" \t\n;&|<>()")
# Inside double quotes a backslash only escapes these characters; elsewhere it is kept.
_DOUBLE_QUOTE_ESCAPES = frozenset({"$", "`", '"', "\\", "\n"})


class Part(namedtuple("Part", "text op")):
    """One element of a command list, with the operator that joins it to the previous one.

    Fields:
        text: str
        op: str | None
    """

    __slots__ = ()


class Redirect(namedtuple("Redirect", "op fd target")):
    """One redirection of a simple command, e.g. `2>>log` is Redirect(">>", 2, "log").

    Fields:
        op: str
        fd: int | None
        target: str
    """

    __slots__ = ()


class SimpleCommand(namedtuple("SimpleCommand", "assignments argv redirects")):
    """One command of a pipeline: its variable assignments, its words and its redirections.

    Fields:
        assignments: list[str]
        argv: list[str]
        redirects: list[Redirect]
    """

    __slots__ = ()


class _Token(namedtuple("_Token", "kind text raw start end quoted command_position",
                        defaults=(False, False))):
    """A word or an operator, where it stands in the source.

    Fields:
        kind: str  # "word" or "op"
        text: str  # the operator, or the word with quotes removed
        raw: str  # the source text of the token
        start: int
        end: int
        quoted: bool = False  # quoting makes a word never a reserved word, nor an fd number
        command_position: bool = False  # the word stands where a command name would
    """

    __slots__ = ()


class _State:
    """What the scanner must remember between tokens of one command list."""

    def __init__(self) -> None:
        self.command_position = True
        self.paren_depth = 0
        self.case_depth = 0  # inside `case`, a lone `)` ends a pattern rather than a subshell
        self.heredoc_operator: str | None = None  # `<<` or `<<-` whose delimiter comes next
        self.heredocs: list[tuple[str, bool]] = []  # (delimiter, strip tabs)


def needs_shell(args: list[str]) -> bool:
    """True when `prov` got one argument written in shell syntax, as in `prov 'a && b > out'`.

    Several arguments are always run directly as argv: the user's shell already split them.
    """
    if len(args) != 1:
        return False
    arg = args[0]
    return arg in RESERVED_WORDS or any(ch.isspace() or ch in SHELL_META for ch in arg)


def split_list(text: str) -> list[Part]:
    """Split `text` at top-level `;`, `&&`, `||` and newlines into parts runnable with `sh -c`.

    Text that holds a compound command, a function definition, a here-document or a
    background `&` comes back whole as one part, since its pieces do not run on their own.
    """
    tokens = _Scanner(text).scan()
    if _is_compound(tokens):
        return [Part(text.strip(), None)]
    parts = []
    for op, part_tokens in _split_at_list_operators(tokens):
        _pipeline_elements(part_tokens)  # raises on a dangling `|` or redirection
        parts.append(Part(text[part_tokens[0].start : part_tokens[-1].end], op))
    return parts


def parse_pipeline(text: str) -> list[SimpleCommand]:
    """Turn one part (a simple command or a pipeline of them) into its simple commands.

    Returns [] for text that is compound or a list of several commands: we would have to
    guess how its words belong together, and a wrong guess records wrong provenance.
    """
    tokens = _Scanner(text).scan()
    if _is_compound(tokens):
        return []
    parts = _split_at_list_operators(tokens)
    if len(parts) != 1:
        return []
    tokens = _drop_pipeline_prefix(parts[0][1])
    if not tokens:
        return []
    return [_simple_command(element) for element in _pipeline_elements(tokens)]


def _is_compound(tokens: list[_Token]) -> bool:
    """True when the tokens hold anything that must run as one unit."""
    for token in tokens:
        if token.kind == "op" and token.text in _COMPOUND_OPERATORS:
            return True
        if _is_reserved(token, _COMPOUND_WORDS):
            return True
    return False


def _is_reserved(token: _Token, words: frozenset[str]) -> bool:
    """True when the token is one of `words` used as a reserved word, not as an argument."""
    return (
        token.kind == "word"
        and token.command_position
        and not token.quoted
        and token.text in words
    )


def _split_at_list_operators(tokens: list[_Token]) -> list[tuple[str | None, list[_Token]]]:
    """Group tokens into (joining operator, tokens) parts; a newline joins like `;`."""
    parts: list[tuple[str | None, list[_Token]]] = []
    current: list[_Token] = []
    pending: str | None = None
    for token in tokens:
        if token.kind == "word" or token.text not in _LIST_OPERATORS:
            current.append(token)
        elif token.text == "\n" and (not current or _is_pipe(current[-1])):
            continue  # a blank line, or a line continued after `&&`, `||` or `|`
        elif not current:
            raise _syntax_error(token.text)
        else:
            parts.append((pending, current))
            current = []
            pending = ";" if token.text == "\n" else token.text
    if current:
        parts.append((pending, current))
    elif pending in ("&&", "||"):
        raise _syntax_error(pending)
    return parts


def _is_pipe(token: _Token) -> bool:
    return token.kind == "op" and token.text in _PIPE_OPERATORS


def _pipeline_elements(tokens: list[_Token]) -> list[list[_Token]]:
    """Split a part at `|` and `|&`, checking each element and each redirection is complete."""
    elements: list[list[_Token]] = [[]]
    for token in tokens:
        if _is_pipe(token):
            if not elements[-1]:
                raise _syntax_error(token.text)
            elements.append([])
        else:
            elements[-1].append(token)
    if not elements[-1]:
        raise _syntax_error(tokens[-1].text)
    for element in elements:
        _check_redirect_targets(element)
    return elements


def _check_redirect_targets(tokens: list[_Token]) -> None:
    """Raise unless every redirection operator is followed by its target word."""
    for index, token in enumerate(tokens):
        if token.kind != "op":
            continue
        if index + 1 == len(tokens) or tokens[index + 1].kind != "word":
            raise _syntax_error(token.text)


def _drop_pipeline_prefix(tokens: list[_Token]) -> list[_Token]:
    """Drop a leading `!` and `time [-p]`: they change how a pipeline is run, not what runs."""
    index = 0
    while index < len(tokens) and _is_reserved(tokens[index], _PIPELINE_PREFIX_WORDS):
        index += 1
        if tokens[index - 1].text == "time" and index < len(tokens) and tokens[index].raw == "-p":
            index += 1
    return tokens[index:]


def _simple_command(tokens: list[_Token]) -> SimpleCommand:
    """Sort the tokens of one pipeline element into assignments, words and redirections."""
    assignments: list[str] = []
    argv: list[str] = []
    redirects: list[Redirect] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "op":
            redirects.append(Redirect(token.text, None, tokens[index + 1].text))
            index += 2
        elif following is not None and _is_fd_number(token, following):
            redirects.append(Redirect(following.text, int(token.text), tokens[index + 2].text))
            index += 3
        else:
            if not argv and _is_assignment(token.raw):
                assignments.append(token.text)
            else:
                argv.append(token.text)
            index += 1
    return SimpleCommand(assignments, argv, redirects)


def _is_fd_number(token: _Token, following: _Token) -> bool:
    """True for the `2` of `2>err`: unquoted digits written right against the operator."""
    return (
        following.kind == "op"
        and following.text in _FD_OPERATORS
        and following.start == token.end
        and not token.quoted
        and token.text.isascii()
        and token.text.isdigit()
    )


def _is_assignment(raw: str) -> bool:
    """True for `NAME=value` and `NAME+=value` with an unquoted, valid variable name."""
    name, sep, _ = raw.partition("=")
    name = name.removesuffix("+")
    return bool(sep) and name.isascii() and name.isidentifier()


def _syntax_error(op: str) -> ShellSyntaxError:
    shown = "newline" if op == "\n" else op
    return ShellSyntaxError(f"syntax error near '{shown}'")


class _Scanner:
    """Cuts shell text into word and operator tokens, honouring quotes and substitutions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def scan(self, nested: bool = False) -> list[_Token]:
        """Read tokens to the end of the text or, when nested, past the `)` closing `$(`."""
        state = _State()
        tokens: list[_Token] = []
        while True:
            self._skip_blanks()
            if self.pos >= len(self.text):
                return self._finish(tokens, state, nested)
            if self.text[self.pos] == "#":
                self._skip_comment()
                continue
            op = self._operator_here()
            if op == ")" and not state.paren_depth and not state.case_depth:
                if not nested:
                    raise ShellSyntaxError("unbalanced parenthesis: unexpected ')'")
                self.pos += 1
                return tokens
            token = self._word(state.command_position) if op is None else self._operator(op)
            self._advance(state, token)
            tokens.append(token)
            if token.kind == "op" and token.text == "\n":
                self._skip_heredoc_bodies(state)

    def _finish(self, tokens: list[_Token], state: _State, nested: bool) -> list[_Token]:
        if nested:
            raise ShellSyntaxError("unbalanced parenthesis: missing ')' after '$(' or '<('")
        if state.paren_depth:
            raise ShellSyntaxError("unbalanced parenthesis: missing ')'")
        return tokens

    def _skip_blanks(self) -> None:
        """Skip spaces, tabs and backslash-newline line continuations."""
        while self.pos < len(self.text):
            if self.text[self.pos] in " \t":
                self.pos += 1
            elif self.text.startswith("\\\n", self.pos):
                self.pos += 2
            else:
                return

    def _skip_comment(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def _operator_here(self) -> str | None:
        if self.text.startswith(("<(", ">("), self.pos):
            return None  # process substitution is a word
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                return op
        return None

    def _operator(self, op: str) -> _Token:
        start = self.pos
        self.pos += len(op)
        return _Token("op", op, op, start, self.pos)

    def _advance(self, state: _State, token: _Token) -> None:
        """Update what the next token means: command name, argument or here-doc delimiter."""
        if token.kind == "op":
            self._after_operator(state, token.text)
        elif state.heredoc_operator is not None:
            state.heredocs.append((token.text, state.heredoc_operator == "<<-"))
            state.heredoc_operator = None
        else:
            self._after_word(state, token)

    def _after_operator(self, state: _State, op: str) -> None:
        if op == "(":
            state.paren_depth += 1
        elif op == ")" and state.paren_depth:
            state.paren_depth -= 1
        if op in _HEREDOC_OPERATORS:
            state.heredoc_operator = op
        state.command_position = op not in REDIRECT_OPERATORS and op not in _HEREDOC_OPERATORS

    def _after_word(self, state: _State, token: _Token) -> None:
        reserved = token.command_position and not token.quoted
        if reserved and token.text == "case":
            state.case_depth += 1
        elif reserved and token.text == "esac" and state.case_depth:
            state.case_depth -= 1
        state.command_position = reserved and token.text in _COMMAND_PREFIX_WORDS

    def _skip_heredoc_bodies(self, state: _State) -> None:
        """Skip the here-documents started on the line that just ended."""
        for delimiter, strip_tabs in state.heredocs:
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line = self.text[self.pos : end]
                self.pos = min(end + 1, len(self.text))
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        state.heredocs.clear()

    def _word(self, command_position: bool) -> _Token:
        """Read one word, removing quotes; substitutions are kept verbatim."""
        start = self.pos
        pieces: list[str] = []
        quoted = False
        if self.text.startswith(("<(", ">("), self.pos):
            pieces.append(self._process_substitution())
        while self.pos < len(self.text) and self.text[self.pos] not in _WORD_END:
            ch = self.text[self.pos]
            quoted = quoted or ch in "\\'\"" or self.text.startswith("$'", self.pos)
            if ch == "\\":
                pieces.append(self._backslash())
            elif ch == "'":
                pieces.append(self._single_quoted())
            elif ch == '"':
                pieces.append(self._double_quoted())
            elif ch in "$`":
                pieces.append(self._expansion(in_double_quotes=False))
            else:
                pieces.append(ch)
                self.pos += 1
        raw = self.text[start : self.pos]
        return _Token("word", "".join(pieces), raw, start, self.pos, quoted, command_position)

    def _backslash(self) -> str:
        """`\\x` stands for x; backslash-newline joins lines and stands for nothing."""
        following = self.text[self.pos + 1 : self.pos + 2]
        self.pos += 1 + len(following)
        if following == "\n":
            return ""
        return following or "\\"

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ShellSyntaxError("unterminated single quote")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        """Read `"..."`: backslash escapes only $ ` " \\ and newline; substitutions stay."""
        self.pos += 1
        pieces: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(pieces)
            if ch == "\\" and self.text[self.pos + 1 : self.pos + 2] in _DOUBLE_QUOTE_ESCAPES:
                pieces.append(self._backslash())
            elif ch in "$`":
                pieces.append(self._expansion(in_double_quotes=True))
            else:
                pieces.append(ch)
                self.pos += 1
        raise ShellSyntaxError("unterminated double quote")

    def _expansion(self, in_double_quotes: bool) -> str:
        """Skip a `$...` or backquoted expansion and return its source text unchanged."""
        start = self.pos
        if self.text[start] == "`":
            self._skip_backquoted()
        elif self.text.startswith("$((", start):
            self._skip_arithmetic()
        elif self.text.startswith("$(", start):
            self.pos += 2
            self.scan(nested=True)
        elif self.text.startswith("${", start):
            self._skip_braced(in_double_quotes)
        elif self.text.startswith("$'", start) and not in_double_quotes:
            self._skip_ansi_c_quoted()
        elif self.text.startswith('$"', start) and not in_double_quotes:
            self.pos += 1  # `$"..."` is a translatable "..."; the `$` stands for nothing
            return ""
        else:
            self.pos += 1  # `$name` or a lone `$`: the rest reads as ordinary characters
        return self.text[start : self.pos]

    def _process_substitution(self) -> str:
        start = self.pos
        self.pos += 2
        self.scan(nested=True)
        return self.text[start : self.pos]

    def _skip_backquoted(self) -> None:
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 2 if ch == "\\" else 1
            if ch == "`":
                return
        raise ShellSyntaxError("unterminated backquote")

    def _skip_arithmetic(self) -> None:
        """Skip `$((...))` by counting parentheses: its body is arithmetic, not commands."""
        self.pos += 1
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            depth += (ch == "(") - (ch == ")")
            if depth == 0:
                return
        raise ShellSyntaxError("unbalanced parenthesis: missing ')' after '$(('")

    def _skip_braced(self, in_double_quotes: bool) -> None:
        """Skip `${...}`, which may itself hold quotes and nested expansions."""
        self.pos += 2
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "}":
                self.pos += 1
                return
            if ch == "\\":
                self.pos += 2
            elif ch == "'" and not in_double_quotes:
                self._single_quoted()
            elif ch == '"':
                self._double_quoted()
            elif ch in "$`":
                self._expansion(in_double_quotes)
            else:
                self.pos += 1
        raise ShellSyntaxError("unterminated '${'")

    def _skip_ansi_c_quoted(self) -> None:
        """Skip `$'...'`, in which a backslash escapes a single quote."""
        self.pos += 2
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 2 if ch == "\\" else 1
            if ch == "'":
                return
        raise ShellSyntaxError("unterminated single quote")
