"""Keep secrets out of the provenance record.

Command lines carry passwords, tokens and keys: `--password x`, `API_KEY=... make`,
`https://user:pass@host`, `ghp_...`, `mysql -pSECRET`, `curl -u bob:pw`, `-H 'Cookie: ...'`.
The record is meant to be committed and shared, so every command line (and every note given
with `-m`) passes through here before it is stored. Only the secret value is replaced, never
the option or variable name: the record must still say that a password was given, just not
which. Redacting twice changes nothing, so records may be re-cleaned with newer rules.

Three layers, because secrets come in three kinds of places:

- words: an argv (or the words of a shell text, found by a forgiving lexer) is read as the
  utility would read it. Long options and NAME=value words are judged by their names; short
  options only for the utilities in `TOOLS` (`-p` is mysql's password but everyone else's
  port); a word that is itself a command line (`sh -c '...'`, `ssh host '...'`) is redacted as
  one, recursively;
- text rules: regexes over raw text for what needs no parsing (URL userinfo, `?token=`,
  header lines, token shapes such as `ghp_...`);
- the project's own `redact.patterns` and `redact.names` (`.prov.toml`), run through
  `provgraph.patterns`, bounded in time. Such a rule cannot be allowed to fail open: when one
  is invalid or runs away, the command is recorded with the defaults applied and then every
  argument but the command name and option names concealed (see `conceal_argv`).

Standard library only, rules compiled on first use: this module sits on the hot path of
every `prov` call, and a command line with no trigger word compiles nothing (`_TRIGGERS`).
"""

from __future__ import annotations

import functools
import re
from collections import namedtuple
from collections.abc import Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

REDACTED = "***"

DEFAULT_OPTION_NAMES: tuple[str, ...] = (
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "token",
    "secret",
    "bearer",
    r"api[-_]?key",
    "apikey",
    r"access[-_]?key",
    r"account[-_]?key",
    r"secret[-_]?key",
    r"private[-_]?key",
    r"(?:src|dest)?(?:store|key)pass",  # keytool, jarsigner
    "auth",
    r"credentials?",
    r"client[-_]?secret",
)
"""Regex fragments of secret-bearing option and variable names (matched ignoring case)."""

SECRET_VARIABLES: tuple[str, ...] = (
    "SSHPASS", "MYSQL_PWD", "REDISCLI_AUTH", "PGPASSWORD", "LFTP_PASSWORD", "SMBPASS",
    "PASSWD", "ISQL_PASSWORD", "SQLCMDPASSWORD", "PGPASS",
)
"""Environment variables that hold a password although their names hide the word. Any name
that ends in password, passwd, passphrase, secret or token is one too (PGPASSWORD)."""

# What follows a secret-taking option of a utility (a value of TOOLS).
SECRET = "secret"  # a secret: replaced whole
ATTACHED = "attached"  # a secret when attached (`mysql -pX`); alone it asks (`mysql -p db`)
USER_PASS = ":"  # user:password: the user is kept, what follows the first `:` replaced
USER_PCT = "%"  # smbclient -U user%password
USER_COMMA = ","  # lftp -u user,password
OPENSSL = "openssl"  # pass:xyz -> pass:***; env:VAR, file:PATH, fd:N and stdin name no secret
COOKIE = "cookie"  # name=value pairs are secret; a word without `=` is a cookie file's name
PLAIN = "plain"  # no secret, though the defaults would say so (`docker run --user app:app`)
FIRST_OPERAND = "*operand"  # option key: the first operand is the secret (`vault login TOKEN`)
BATCH_LAST = "*batch"  # option key: with -b in a cluster the last operand is (`htpasswd -b`)


def _tool(options: dict[str, str], flags: str = "", **subcommands: dict[str, str]
          ) -> tuple[str, dict[str, dict[str, str]]]:
    """A utility's secret options: always, and after a subcommand word (`docker login`).

    `flags` are its short options that take no value: they may stand before a secret one in a
    cluster (`curl -su bob:pw`); any other letter ends the search (`mysql -hprod` is a host)."""
    return flags, {"": options, **subcommands}


_MYSQL = _tool({"-p": ATTACHED})
_LOGIN = _tool({"--user": PLAIN}, login={"-p": SECRET})
_LDAP = _tool({"-w": SECRET}, "xvnZNcCMWOQ")

TOOLS: dict[str, tuple[str, dict[str, dict[str, str]]]] = {
    **dict.fromkeys(("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow",
                     "mysqlcheck", "mysqlpump", "mysqlslap", "mysqlbinlog", "mysqlsh",
                     "mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import",
                     "mariadb-check"), _MYSQL),
    "sshpass": _tool({"-p": SECRET}),
    **dict.fromkeys(("redis-cli", "valkey-cli", "keydb-cli"), _tool({"-a": SECRET})),
    **dict.fromkeys(("docker", "podman", "nerdctl", "buildah", "skopeo", "helm", "oras",
                     "crane", "regctl"), _LOGIN),
    "az": _tool({}, login={"-p": SECRET}),
    "vault": _tool({}, login={FIRST_OPERAND: SECRET}),
    "ssh-keygen": _tool({"-N": SECRET, "-P": SECRET}, "qvlBHceiymgAk"),
    **dict.fromkeys(("keytool", "jarsigner"), _tool(dict.fromkeys(
        ("-storepass", "-keypass", "-srcstorepass", "-deststorepass", "-srckeypass",
         "-destkeypass", "-new"), SECRET))),
    "apksigner": _tool({"--ks-pass": OPENSSL, "--key-pass": OPENSSL}),
    "curl": _tool({"-u": USER_PASS, "--user": USER_PASS, "-U": USER_PASS,
                   "--proxy-user": USER_PASS, "-E": USER_PASS, "--cert": USER_PASS,
                   "--proxy-cert": USER_PASS, "-b": COOKIE, "--cookie": COOKIE,
                   "--oauth2-bearer": SECRET, "--tlspassword": SECRET,
                   "--proxy-tlspassword": SECRET}, "fsSLkvqiIOJgGNRlaBjZ"),
    "wget": _tool({"--user": USER_PASS, "--http-user": USER_PASS, "--ftp-user": USER_PASS,
                   "--proxy-user": USER_PASS}),
    "htpasswd": _tool({BATCH_LAST: SECRET}),
    "openssl": _tool({"-pass": OPENSSL, "-passin": OPENSSL, "-passout": OPENSSL,
                      "-password": OPENSSL, "-k": SECRET}),
    **dict.fromkeys(("7z", "7za", "7zr", "7zz"), _tool({"-p": ATTACHED})),
    **dict.fromkeys(("rar", "unrar"), _tool({"-p": ATTACHED, "-hp": ATTACHED})),
    **dict.fromkeys(("zip", "unzip", "zipcloak", "funzip"), _tool({"-P": SECRET})),
    **dict.fromkeys(("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport",
                     "mongoimport", "mongostat", "mongotop", "mongofiles"),
                    _tool({"-p": SECRET})),
    **dict.fromkeys(("smbclient", "rpcclient", "smbcacls", "smbget", "smbtree", "mount.cifs"),
                    _tool({"-U": USER_PCT, "--user": USER_PCT})),
    "lftp": _tool({"-u": USER_COMMA}),
    **dict.fromkeys(("sqlcmd", "bcp", "osql"), _tool({"-P": SECRET})),
    **dict.fromkeys(("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapmodrdn",
                     "ldapwhoami", "ldapcompare", "ldapexop"), _LDAP),
    "ldappasswd": _tool({"-w": SECRET, "-s": SECRET, "-a": SECRET}, "xvnZNcCMWOQS"),
    **dict.fromkeys(("snmpwalk", "snmpget", "snmpset", "snmpbulkwalk", "snmpbulkget",
                     "snmpgetnext", "snmptrap", "snmptable"),
                    _tool({"-c": SECRET, "-A": SECRET, "-X": SECRET})),
}
"""Utilities whose short (or single-dash) options take secrets, and what their values are."""

# A shell word in raw text: command substitutions, quoted pieces (an unterminated one runs
# to the end, so that a broken command line cannot leak its secret), escapes and the rest.
_SHELL_VALUE = r"""(?:\$\([^)]*\)?|`[^`]*`?|'[^']*'?|"(?:[^"\\]|\\.)*"?|\\.|[^\s'"\\;&|<>()`])+"""

_TOKEN_SHAPES = "|".join(
    (
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab personal access tokens
        r"\bnpm_[A-Za-z0-9]{30,}",  # npm
        r"\bpypi-[A-Za-z0-9_-]{50,}",  # PyPI upload tokens
        r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style secret keys
        r"\bxox[baprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
        r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",  # JSON Web Tokens
    )
)

# Shell and process variables whose names look secret but are not.
_HARMLESS_VARIABLES = r"(?!(?:old)?pwd\b)"

# HTTP headers whose value is a credential (with spaces: `a=1; b=2`, `Digest realm="x"`).
_HEADERS = r"(?:[A-Za-z0-9]+-)*(?:authorization|cookie)"
_SCHEMES = r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256)[ \t]+)?"

# A URL's user part with no password is a secret when it is shaped like a token: 20 or more
# characters mixing letters and digits (`https://ghp_...@github.com`, `https://3f9a...@h`).
# User names are short or made of words: `git`, `alice`, `deploy-bot`, `first.last`.
_TOKEN_USER = (r"(?=[^\s/:@'\"]*[0-9])(?=[^\s/:@'\"]*[A-Za-z])[A-Za-z0-9_~.%+=-]{20,}")

_MAX_DEPTH = 3  # a command line inside a word inside a word (`ssh h "sh -c '...'"`)


# Substrings (lower case) one of which a text must hold for a rule to match it: a rule whose
# triggers are absent is skipped, and a default rule never used is never compiled.
_NAME_TRIGGERS = ("pass", "pwd", "token", "secret", "key", "auth", "credential", "bearer")
_TOKEN_TRIGGERS = ("gh", "github_pat", "glpat", "npm_", "pypi-", "hf_", "akia", "asia",
                   "sk-", "xox", "eyj")


class Rules(namedtuple("Rules", "option_name variable_name text_rules extra_rules header "
                                "name_triggers checks user broken")):
    """Compiled redaction rules; build them with compile_rules().

    Fields:
        option_name: a whole option name with its dashes stripped (fullmatch)
        variable_name: the NAME of a NAME=value word (fullmatch)
        text_rules: tuple[tuple[pattern, int | str, triggers], ...]  # (pattern, group to
            replace, substrings one of which the text must hold; None: always run)
        extra_rules: the project's own patterns, the same way
        header: a word that is an HTTP header line, `Cookie: a=b` (group 1 kept)
        name_triggers: a word needs one of these for option_name/variable_name to match it
            (None with the project's names: they are regexes)
        checks: the project's names, each alone: run first so that a name that runs away is
            named in the warning (and the combined rules are not run at all)
        user: every pattern built from the project's text (provgraph.patterns.UserPattern)
        broken: a project rule could not be compiled

    A pattern is a _Lazy re.Pattern for the defaults and a UserPattern (bounded in time) for
    anything built from the project's text: both have the methods used here.
    """

    __slots__ = ()

    def failed(self) -> bool:
        """A project rule is invalid or was dropped: what it would hide cannot be found."""
        return self.broken or any(pattern.dropped for pattern in self.user)


class _Lazy:
    """A default pattern, compiled on first use: compiling all of them costs ~10 ms, and a
    command line usually needs one or two (`curl https://...` only the URL rules)."""

    __slots__ = ("_compiled", "flags", "text")

    def __init__(self, text: str, flags: int = 0):
        self.text, self.flags = text, flags
        self._compiled: re.Pattern[str] | None = None

    def get(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.text, self.flags)
        return self._compiled

    def sub(self, repl, string: str) -> str:
        return self.get().sub(repl, string)

    def match(self, string: str) -> re.Match[str] | None:
        return self.get().match(string)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        return self.get().fullmatch(string)

    def finditer(self, string: str):
        return self.get().finditer(string)


def compile_rules(extra_patterns: Iterable[str] = (), extra_names: Iterable[str] = (),
                  where: str = ".prov.toml") -> Rules:
    """Compile the default rules plus the project's own (from `where`, for warnings).

    extra_names are regex fragments of secret option and variable names, like
    DEFAULT_OPTION_NAMES. extra_patterns are regexes over the text: when a pattern has a
    capturing group only group 1 is replaced, else the whole match. Both are the project's
    text, so they are compiled by provgraph.patterns (bounded in time, one warning when
    invalid or runaway); the defaults are linear by design and compiled by re.
    """
    extra_patterns, extra_names = tuple(extra_patterns), tuple(extra_names)
    if not extra_patterns and not extra_names:
        return _default_rules()
    from provgraph.patterns import compile_user

    note = "the command is recorded without its arguments"
    broken = False
    extras = []
    for text in extra_patterns:
        pattern = compile_user(text, f"redact.patterns in {where}; {note}")
        broken = broken or pattern is None
        if pattern is not None:
            extras.append((pattern, 1 if pattern.groups else 0, None))
    names_where = f"redact.names in {where}; {note}"
    checks, names = [], []
    for name in extra_names:
        check = compile_user(name, names_where, re.IGNORECASE)
        broken = broken or check is None
        if check is not None:
            checks.append(check)
            names.append(name)
    if broken or not names:
        base = _default_rules()
    else:
        try:
            base = _build(names, functools.partial(compile_user, where=names_where))
        except _Uncompiled:
            base, broken = _default_rules(), True
    return base._replace(
        extra_rules=tuple(extras), checks=tuple(checks),
        user=tuple(p for p, _, _ in extras) + tuple(checks) + base.user, broken=broken)


class _Uncompiled(Exception):
    """A rule combined from the project's names did not compile (warned already)."""


def _build(extra_names: Iterable[str], compile_user=None) -> Rules:
    """The default rules, with extra name fragments compiled in (bounded) when given."""
    extra_names = tuple(extra_names)
    names = "|".join(f"(?:{name})" for name in (*DEFAULT_OPTION_NAMES, *extra_names))
    known = "|".join(SECRET_VARIABLES)
    # A whole name, possibly after prefixes: `db-password`, `github_token`, not `passes`.
    option = rf"(?:[A-Za-z0-9]+[-_.])*(?:{names})s?"
    # A name holding one of the words between non-letters (`AWS_SECRET_ACCESS_KEY`), ending
    # in one (`PGPASSWORD`, `NPMTOKEN`), or known (`SSHPASS`).
    variable = (
        rf"{_HARMLESS_VARIABLES}(?=[A-Za-z_])(?:[A-Za-z0-9_.]*?"
        rf"(?<![A-Za-z])(?:{names})s?(?![A-Za-z])[A-Za-z0-9_.]*"
        rf"|[A-Za-z0-9_.]*(?:password|passwd|passphrase|secret|token)s?|(?:{known}))"
    )
    named = None if extra_names else _NAME_TRIGGERS
    # Each rule names the secret `value`: extra_names may hold groups of their own.
    text_rules = (
        # "--password=a b" and 'API_KEY=a b': the value runs to the closing quote.
        (rf"""(?P<q>['"])(?:-{{1,2}}{option}|{variable})=(?P<value>(?:(?!(?P=q))[^\\]|\\.)*)""",
         named),
        # --password x, --password 'a b', --token="a b"; a next word `--x` is an option.
        (rf"""(?<![\w'"-])-{{1,2}}{option}(?:=|[ \t]+(?!--))(?P<value>{_SHELL_VALUE})""", named),
        # API_KEY=x at the start of a word or a list item (-o user=u,password=x; :_authToken=x),
        # and --env=API_KEY=x (not &api_key=x: a URL).
        (rf"(?<![^\s;|(=,:]){variable}=(?P<value>{_SHELL_VALUE})", named),
        # scheme://user:password@host
        (r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'"]*:(?P<value>[^\s/'"]+)@""", ("://",)),
        # scheme://TOKEN@host (a token, not a user name: see _TOKEN_USER)
        (rf"""[A-Za-z][A-Za-z0-9+.-]*://(?P<value>{_TOKEN_USER})@""", ("://",)),
        # user:password@host without a scheme (not image:tag@sha256:digest)
        (r"""(?<![^\s'"=])[A-Za-z0-9._%+-]+:(?P<value>[^\s/'"]+)@(?!sha\d+:)(?=[A-Za-z0-9\[])""",
         ("@",)),
        # ?token=x and &api_key=x in URLs
        (rf"""[?&](?:[A-Za-z0-9]+[-_.])*(?:{names})s?=(?P<value>[^&#\s'"]+)""", named),
        # Cookie: a=1; b=2 and Set-Cookie: ... in any text
        (r"""(?<![\w-])(?:[A-Za-z0-9]+-)*cookie:[ \t]*(?P<value>[^\s'";]+(?:;[ \t]*[^\s'";]+)*)""",
         ("cookie",)),
        # Authorization: Bearer x, Proxy-Authorization: Basic x, X-Api-Key: x
        (rf"""(?<![\w-])(?:(?:[A-Za-z0-9]+-)*authorization[ \t]*:|(?:[A-Za-z0-9]+-)*"""
         rf"""(?:{names})s?:[ \t])[ \t]*{_SCHEMES}(?P<value>[^\s'"]+)""", named),
    )
    make = compile_user or _Lazy
    compiled = [(_compiled(make, text, re.IGNORECASE), "value", triggers)
                for text, triggers in text_rules]
    compiled.append((_Lazy(_TOKEN_SHAPES), 0, _TOKEN_TRIGGERS))
    option_name = _compiled(make, option, re.IGNORECASE)
    variable_name = _compiled(make, variable, re.IGNORECASE)
    user = () if compile_user is None else (
        option_name, variable_name, *(p for p, _, _ in compiled[:-1]))
    return Rules(option_name=option_name, variable_name=variable_name,
                 text_rules=tuple(compiled), extra_rules=(), header=_header_rule(),
                 name_triggers=named, checks=(), user=user, broken=False)


def _compiled(make, text: str, flags: int):
    pattern = make(text, flags=flags)
    if pattern is None:
        raise _Uncompiled
    return pattern


@functools.cache
def _header_rule() -> _Lazy:
    """A word that is a header line: its whole value, `; `-separated cookies and all. After
    curl's -H or --header=, or git's -c http.extraHeader=."""
    return _Lazy(rf"^((?:-H|--header=|[\w.-]+=)?[ \t]*{_HEADERS}[ \t]*:[ \t]*{_SCHEMES})(\S.*)$",
                 re.IGNORECASE | re.DOTALL)


# -- argv ------------------------------------------------------------------------------------


def redact_argv(argv: list[str], rules: Rules | None = None) -> list[str]:
    """Return a copy of argv with secret values replaced by REDACTED.

    `--password x` redacts the next word unless it starts with `--` (then it is an option:
    `--no-password --host h` keeps `--host`). Short options only count for the utilities of
    TOOLS: `-p` is as often a port as a password. The project's extra patterns are matched
    against the words joined by spaces, as the user wrote them: `--dsn[= ](\\S+)` finds the
    value in the next word.
    """
    rules = rules or _default_rules()
    if _precheck_failed(rules, " ".join(argv)):
        return conceal_argv(_redact_words(list(argv), _default_rules(), 0))
    result = _redact_words(list(argv), rules, 0)
    for pattern, group, _ in rules.extra_rules:
        result = _redact_across_words(result, pattern, group)
    if rules.failed():
        return conceal_argv(_redact_words(list(argv), _default_rules(), 0))
    return result


def _precheck_failed(rules: Rules, text: str) -> bool:
    """Run the project's names alone on the text first: one that runs away is dropped (and
    named in its warning) before the rules combining it run; a failed set of rules is not
    run at all."""
    if rules.failed():
        return True
    for check in rules.checks:
        check.search(text)
    return rules.failed()


def _redact_words(words: list[str], rules: Rules, depth: int) -> list[str]:
    """Redact the words of one simple command, reading options as its utility would."""
    out: list[str] = []
    follows: str | None = None  # the kind of value the next word is
    tool: tuple[str, dict[str, dict[str, str]]] | None = None
    active: dict[str, str] = {}  # the secret options of the utility in force
    segment: list[int] = []  # indices of the current utility's operands (htpasswd, vault)
    batch = False
    for word in words:
        if follows is not None and not word.startswith("--"):
            out.append(_redact_inside(_value(word, follows), rules, depth))
            follows = None
            continue
        follows = None
        handled = False
        if tool is not None and word.startswith("-") and word != "-":
            option = _tool_option(word, tool[0], active)
            if option is not None:
                word, follows = option
                handled = True
            batch = batch or (BATCH_LAST in active and _is_cluster_with(word, "b"))
        elif tool is not None and word in tool[1] and word:
            active = {**active, **tool[1][word]}
            handled = True
        elif tool is not None and active.get(FIRST_OPERAND) and "=" not in word:
            active = {k: v for k, v in active.items() if k != FIRST_OPERAND}
            word, handled = _value(word, SECRET), True
        if not handled and (spec := TOOLS.get(word.rsplit("/", 1)[-1])) is not None:
            _finish_batch(out, segment, batch)
            tool, active, segment, batch = spec, dict(spec[1][""]), [], False
            out.append(word)
            continue
        if not handled:
            word, generic = _redact_word(word, rules)
            follows = SECRET if generic else _user_option(word)
        if tool is not None and not word.startswith("-"):
            segment.append(len(out))
        out.append(_redact_inside(word, rules, depth))
    _finish_batch(out, segment, batch)
    return out


def _tool_option(word: str, flags: str, options: dict[str, str]
                 ) -> tuple[str, str | None] | None:
    """A utility's secret option: (the word redacted, the kind of the next word) or None."""
    name, eq, value = word.partition("=")
    kind = options.get(name)
    if kind is not None:  # -p, --user, -storepass; --user=bob:pw
        if eq:
            return f"{name}={_value(value, kind)}", None
        return word, None if kind == ATTACHED else kind
    head = word.split(":", 1)[0]  # keytool -storepass:env VAR
    if head != word and options.get(head) == SECRET:
        return word, SECRET
    if word.startswith("--"):
        return None
    for index in range(1, len(word)):  # a cluster: -pSECRET, -uuser:pw, -su user:pw
        kind = options.get("-" + word[index])
        if kind is not None:
            rest = word[index + 1 :]
            if rest:
                return word[: index + 1] + _value(rest, kind), None
            return word, None if kind == ATTACHED else kind
        if word[index] not in flags:
            return None
    return None


def _value(value: str, kind: str) -> str:
    """The value of a secret option, redacted as its kind says (an empty one stays empty)."""
    if not value or kind == PLAIN:
        return value
    if kind in (USER_PASS, USER_PCT, USER_COMMA):
        user, sep, password = value.partition(kind)
        if not (sep and password) or (user.isdigit() and password.isdigit()):  # uid:gid
            return value
        return f"{user}{sep}{REDACTED}"
    if kind == OPENSSL:
        scheme, sep, rest = value.partition(":")
        if scheme == "pass" and sep:
            return f"pass:{REDACTED}" if rest else value
        if (sep and scheme in ("env", "file", "fd")) or value == "stdin":
            return value
        return REDACTED
    if kind == COOKIE:
        return REDACTED if "=" in value else value
    return REDACTED


def _user_option(word: str) -> str | None:
    """`--user` (`--proxy-user`, `--http-user`) takes user:password: the next word is one."""
    if not word.startswith("--") or "=" in word:
        return None
    return USER_PASS if word[2:].lower().rsplit("-", 1)[-1] == "user" else None


def _is_cluster_with(word: str, letter: str) -> bool:
    return word[:1] == "-" and word[1:2] != "-" and word[1:].isalpha() and letter in word


def _finish_batch(out: list[str], operands: list[int], batch: bool) -> None:
    """`htpasswd -b [file] user password`: the last operand is the password."""
    if batch and len(operands) >= 2 and out[operands[-1]]:
        out[operands[-1]] = REDACTED


def _redact_inside(word: str, rules: Rules, depth: int) -> str:
    """What a word holds: a header line, a command line of its own, or text rules' matches."""
    if not word or word == REDACTED:
        return word
    lowered = word.lower()
    match = ("auth" in lowered or "cookie" in lowered) and rules.header.match(word)
    if match and "\n" not in match.group(2):
        return match.group(1) + REDACTED
    if depth < _MAX_DEPTH and any(blank in word for blank in " \t\n"):
        return _redact_shell(word, rules, depth + 1)
    return _apply(rules.text_rules, word)


def _redact_word(word: str, rules: Rules) -> tuple[str, bool]:
    """Redact one argv word as a whole; also say whether the next word is a secret value.

    Whole words matter: the value of `API_KEY=a b` in argv is `a b`, spaces and all.
    """
    name, sep, value = word.partition("=")
    if not word.startswith("-"):
        return (_redact_assignment(word) if _is_secret_assignment(word, rules) else word), False
    if _may_name(name, rules) and rules.option_name.fullmatch(name.lstrip("-")):
        return (f"{name}={REDACTED}" if sep else word), not sep
    if _is_secret_assignment(value, rules):  # docker's --env=API_KEY=x
        return f"{name}={_redact_assignment(value)}", False
    if sep and name.startswith("--") and _user_option(name):  # --user=bob:pw
        return f"{name}={_value(value, USER_PASS)}", False
    return word, False


def _is_secret_assignment(word: str, rules: Rules) -> bool:
    name, sep, _ = word.partition("=")
    return (bool(sep) and _may_name(name, rules)
            and rules.variable_name.fullmatch(name) is not None)


def _may_name(name: str, rules: Rules) -> bool:
    """Whether a name could be a secret's, before a regex is compiled or run to say so."""
    if rules.name_triggers is None:
        return True
    lowered = name.lower()
    return any(trigger in lowered for trigger in rules.name_triggers)


def _redact_assignment(word: str) -> str:
    name, _, _ = word.partition("=")
    return f"{name}={REDACTED}"


# -- text ------------------------------------------------------------------------------------


def redact_text(text: str, rules: Rules | None = None) -> str:
    """Return the text, a raw shell command line or any message, with secrets replaced."""
    rules = rules or _default_rules()
    if _precheck_failed(rules, text):
        return conceal_text(_redact_shell(text, _default_rules(), 0))
    result = _apply(rules.extra_rules, _redact_shell(text, rules, 0))
    if rules.failed():
        return conceal_text(_redact_shell(text, _default_rules(), 0))
    return result


def _redact_shell(text: str, rules: Rules, depth: int) -> str:
    """Text rules over the raw text, then its words, command by command, as argv."""
    text = _apply(rules.text_rules, text)
    return _rewrite_words(text, lambda words: _redact_words(words, rules, depth))


# A forgiving lexer: every character belongs to a blank, an operator or a word; unterminated
# quotes run to the end. `$(` and backquotes start commands of their own.
_LEXEME = r"""(?P<blank>[ \t\r\f\v]+|\\\n)
  |(?P<redirect>[0-9]*(?:<<<|<<-?|>>|&>>?|<>|>\||[<>]&?))
  |(?P<op>\$\(|&&|\|\||[;&|()`\n])
  |(?P<word>(?:'[^']*'?|"(?:[^"\\]|\\.)*"?|\\.?|\$(?!\()|[^\s'"\\;&|<>()`$])+)
  |(?P<other>.)"""
_PIECE = r"""'([^']*)'?|"((?:[^"\\]|\\.)*)"?|\\(.?)|([^'"\\]+)"""


@functools.cache
def _lexer() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return (re.compile(_LEXEME, re.VERBOSE | re.DOTALL), re.compile(_PIECE, re.DOTALL),
            re.compile(r'\\([$`"\\\n])'))


def _rewrite_words(text: str, change) -> str:
    """Apply `change` (words -> words) to each simple command's words; splice what changed.

    The words are unquoted as the shell would; a changed word is written back keeping its
    quoting where it can (`-p'x y'` -> `-p***`, `'Cookie: a=b'` -> `'Cookie: ***'`)."""
    lexeme, _, _ = _lexer()
    commands: list[list[tuple[int, int, str]]] = [[]]
    target = False  # the next word is a redirection's target, not an argument
    for match in lexeme.finditer(text):
        kind = match.lastgroup
        if kind == "word":
            if not target:
                commands[-1].append((match.start(), match.end(), match.group()))
            target = False
        elif kind == "redirect":
            target = True
        elif kind in ("op", "other"):
            commands.append([])
    edits: list[tuple[int, int, str]] = []
    for command in commands:
        if not command:
            continue
        words = [_unquote(raw) for _, _, raw in command]
        for (start, end, raw), old, new in zip(command, words, change(words), strict=True):
            if new != old:
                edits.append((start, end, _requote(raw, old, new)))
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text


def _unquote(raw: str) -> str:
    _, piece, escape = _lexer()
    parts = []
    for match in piece.finditer(raw):
        single, double, escaped, plain = match.groups()
        if double is not None:
            parts.append(escape.sub(r"\1", double))
        else:
            parts.append(next(p for p in (single, escaped, plain) if p is not None))
    return "".join(parts)


_UNSAFE = frozenset(" \t\n'\"\\;&|<>()`$")


def _requote(raw: str, old: str, new: str) -> str:
    """The source text of a changed word, quoted as it was where possible."""
    if raw == old and not _UNSAFE & set(new):
        return new
    kept = 0
    while kept < min(len(old), len(new)) and old[kept] == new[kept]:
        kept += 1
    prefix = new[:kept]
    if raw.startswith(prefix) and not _UNSAFE & set(prefix) and not _UNSAFE & set(new[kept:]):
        return raw[:kept] + new[kept:]
    quote = raw[:1]
    if quote == "'" and raw.endswith("'") and len(raw) > 1 and "'" not in new:
        return f"'{new}'"
    if quote == '"' and raw.endswith('"') and len(raw) > 1 and not set('"\\') & set(new):
        return f'"{new}"'
    if not _UNSAFE & set(new):
        return new
    import shlex

    return shlex.quote(new)


# -- the project's patterns ------------------------------------------------------------------


def _apply(text_rules: Iterable[tuple[Any, int | str, tuple[str, ...] | None]], text: str
           ) -> str:
    """Run the rules over the text; one whose trigger words are all absent is skipped."""
    lowered = text.lower()
    for pattern, group, triggers in text_rules:
        if triggers is None or any(trigger in lowered for trigger in triggers):
            text = pattern.sub(functools.partial(_replace_group, group=group), text)
            lowered = text.lower()
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


# -- failing closed --------------------------------------------------------------------------

_COMMAND_NAME = re.compile(r"[\w./+-]+")


def conceal_argv(argv: list[str]) -> list[str]:
    """Keep only what names no value: the command name, option names, variable names.

    What a redaction rule of the project's would have hidden cannot be found once the rule
    is invalid or was dropped; rather than record it, every other word becomes REDACTED:
    `mysql --host=h -pX db` -> `mysql --host=*** *** ***`. Idempotent."""
    out = []
    command = True  # the next word may be the command name
    for word in argv:
        name, eq, _ = word.partition("=")
        if word == REDACTED:
            out.append(word)
        elif eq and not word.startswith("-") and name.isidentifier():
            out.append(f"{name}={REDACTED}")  # API_KEY=x cmd: still before the command
            continue
        elif command and _COMMAND_NAME.fullmatch(word) and not word.startswith("-"):
            out.append(word)
        elif word.startswith("--") and _COMMAND_NAME.fullmatch(name):
            out.append(f"{name}={REDACTED}" if eq else name)
        elif len(word) == 2 and word[0] == "-" and word[1].isalpha():
            out.append(word)
        else:
            out.append(REDACTED)
        command = False
    return out


def conceal_text(text: str) -> str:
    """conceal_argv for each command of a shell text (operators are kept)."""
    return _rewrite_words(text, conceal_argv)


# -- configured URIs -------------------------------------------------------------------------


def uri_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """The URI without its userinfo, and the user and password it held (percent-decoded).

    Neo4j's driver refuses `bolt://user:pw@host` and quotes the whole URI in its error; given
    here, the credentials go to the driver as its auth and the URI is shown without them."""
    scheme, sep, rest = uri.partition("://")
    end = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
              or [len(rest)])
    userinfo, at, host = rest[:end].rpartition("@")
    if not (sep and at):
        return uri, None, None
    from urllib.parse import unquote

    user, colon, password = userinfo.partition(":")
    return (f"{scheme}://{host}{rest[end:]}", unquote(user) if user else None,
            unquote(password) if colon else None)


def uri_has_password(uri: object) -> bool:
    return isinstance(uri, str) and uri_credentials(uri)[2] is not None


def uri_shown(uri: str) -> str:
    """The URI to print or log: its userinfo password as REDACTED (bolt://neo4j:***@host)."""
    if not isinstance(uri, str) or "@" not in uri:
        return uri
    bare, user, password = uri_credentials(uri)
    if password is None:
        return uri
    scheme, _, rest = bare.partition("://")
    userinfo = (user and _user_in_uri(uri)) or ""
    return f"{scheme}://{userinfo}:{REDACTED}@{rest}"


def _user_in_uri(uri: str) -> str:
    """The user part as written (still percent-encoded)."""
    return uri.partition("://")[2].split("@")[0].partition(":")[0]


# -- the hot path ----------------------------------------------------------------------------


@functools.cache
def _default_rules() -> Rules:
    return _build(())


# Every default rule needs one of these in the text (ignoring case), or a word naming one of
# TOOLS; most command lines have neither, and then the rules need not even be compiled
# (which costs milliseconds per `prov`).
_TRIGGERS = ("pass", "pwd", "token", "secret", "key", "auth", "credential", "bearer",
             "cookie", "://", "@", "gh", "github_pat", "glpat", "npm_", "pypi-", "hf_",
             "akia", "asia", "sk-", "xox", "eyj")
_BREAKS = ";|&()`'\"<>="
_WORD_BREAKS = str.maketrans(_BREAKS, " " * len(_BREAKS))


def _triggered(text: str) -> bool:
    """True when some default rule could match the text (tested by substrings, no regex)."""
    lowered = text.lower()
    if any(trigger in lowered for trigger in _TRIGGERS):
        return True
    return any(word.rsplit("/", 1)[-1] in TOOLS for word in text.translate(_WORD_BREAKS).split())


def _as_tuple(value: object) -> tuple:
    """`patterns = "x"` is one pattern, not one per character (a bad item is warned about)."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) if value else ()


class Redactor:
    """The rules of one project, compiled only when a command line could hold a secret."""

    def __init__(self, extra_patterns: Iterable[str] = (), extra_names: Iterable[str] = (),
                 where: str = ".prov.toml"):
        self.extra = (_as_tuple(extra_patterns), _as_tuple(extra_names))
        self.where = where
        self._rules: Rules | None = None

    def _needed(self, text: str) -> Rules | None:
        if not any(self.extra) and not _triggered(text):
            return None
        if self._rules is None:
            self._rules = (compile_rules(*self.extra, where=self.where) if any(self.extra)
                           else _default_rules())
        return self._rules

    def argv(self, argv: list[str]) -> list[str]:
        rules = self._needed(" ".join(argv))
        return redact_argv(argv, rules) if rules else list(argv)

    def text(self, text: str) -> str:
        rules = self._needed(text)
        return redact_text(text, rules) if rules else text
