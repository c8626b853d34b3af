"""The values a template parameter takes: `KEY=SPEC` as `prov template` and `prov sweep` read it.

A SPEC is
- a list, `0.1,0.01` (order kept, repeats dropped);
- a range, `START:END:xFACTOR` (geometric) or `START:END:+STEP` (arithmetic; `+-0.5` steps
  down), inclusive of END when the sequence hits it exactly;
- anything else, one value (a default).

Ranges are computed in decimal arithmetic, not binary floating point, so `0.001:0.1:x10` is
exactly `0.001, 0.01, 0.1` and `0:1:+0.1` ends at `1` (0.1 * 10 in floats is 0.9999999999999999).
A range that gives nothing (`1:0:+1`, `0:1:x0`, a factor of 1, a step of 0) is refused.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from provgraph.errors import BadInput

#: More values than this in one SPEC is a typo (`0:1e9:+1`), not a grid anyone runs.
MAX_VALUES = 10_000
_RANGE = re.compile(r"^([^:]+):([^:]+):([x+])(.+)$")


def parse_assignment(text: str) -> tuple[str, str]:
    """`KEY=SPEC` -> (KEY, SPEC): the first `=` splits them, the second for `@=VALUE=SPEC`
    (an operand named by its value, which holds no `=`)."""
    if text.startswith("@="):
        value, sep, spec = text[2:].partition("=")
        key = "@=" + value
    else:
        key, sep, spec = text.partition("=")
    if key in ("--", "-", "") and sep:  # `--lr=0.1=...` never; `=x` has no key
        raise BadInput(f"{text!r} has no key: write KEY=SPEC (--lr=0.1,0.01)")
    if not sep:
        raise BadInput(f"{text!r} is not KEY=SPEC (--lr=0.1,0.01, params.yaml:train.lr=0.1)")
    if not spec.strip():
        raise BadInput(f"{key}: no values after '=' (a list 0.1,0.01, a range 0.001:0.1:x10 "
                       "or 16:128:+16, or one value)")
    return key.strip(), spec.strip()


def expand(key: str, spec: str) -> list[str]:
    """The values SPEC stands for, as text (what a command line or config file receives)."""
    match = _RANGE.match(spec)
    if match and _is_number(match[1]) and _is_number(match[2]):
        return _range(key, spec, match[1], match[2], match[3], match[4])
    if "," in spec:
        items = [item.strip() for item in spec.split(",")]
        if not all(items):
            raise BadInput(f"{key}={spec}: an empty value in the list")
        return list(dict.fromkeys(items))
    return [spec]


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _range(key: str, spec: str, first: str, last: str, op: str, by: str) -> list[str]:
    try:
        start, end, step = Decimal(first), Decimal(last), Decimal(by)
    except InvalidOperation:
        raise BadInput(f"{key}={spec}: {by!r} is not a number") from None
    nothing = BadInput(f"{key}={spec} gives no values (write START:END:xFACTOR or "
                       "START:END:+STEP, going from START towards END)")
    with localcontext() as ctx:
        ctx.prec = 34
        if op == "x":
            if step <= 0 or step == 1 or start == 0 or (start < 0) != (end < 0):
                raise nothing
            grows = step > 1

            def more(v: Decimal) -> bool:
                return abs(v) <= abs(end) if grows else abs(v) >= abs(end)

            def advance(v: Decimal) -> Decimal:
                return v * step
        else:
            if not step.is_finite() or step == 0:
                raise nothing

            def more(v: Decimal) -> bool:
                return v <= end if step > 0 else v >= end

            def advance(v: Decimal) -> Decimal:
                return v + step
        found: list[str] = []
        value = start
        while more(value):
            found.append(_text(value))
            if len(found) > MAX_VALUES:
                raise BadInput(f"{key}={spec} gives more than {MAX_VALUES} values")
            value = advance(value)
    if not found:
        raise nothing
    return found


def _text(value: Decimal) -> str:
    """`0.0100` -> `0.01`, `1E+2` -> `100`: how a person writes the number."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def typed(text: str, like: object = None) -> object:
    """A value for a config file: a number, a boolean or the text, keeping a float a float
    (`base_lr: 1` would make Caffe's float an int in YAML readers)."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return text
    if isinstance(like, float) and not isinstance(like, bool):
        return float(number)
    return number
