"""The quantities users type: byte counts, budgets, durations, methods.

The same spellings and rules as the C++ CLI (client/common/units.cc, the
--variant names of `autotm plan`), so a budget string means the same bytes
in Python and on the command line. Every parser raises AutotmError
(INVALID_ARGUMENT) with a message that quotes the text and says what would
have been accepted.
"""

from __future__ import annotations

import fractions
import math
import re
from typing import Optional, Union

from autotm._errors import AutotmError
from autotm._errors import invalid_argument
from autotm.v1 import graph_pb2
from autotm.v1 import job_pb2
from autotm.v1 import plan_pb2

# The fast-pool alignment `autotm plan --budget P%` rounds tensors up to
# (solver/allocator.h kDefaultAlignmentBytes; the server's default too).
DEFAULT_ALIGNMENT_BYTES = 4096

_MAX_U64 = 2**64 - 1
_BYTE_UNITS = {
    '': 1,
    'b': 1,
    'kib': 1024,
    'mib': 1024**2,
    'gib': 1024**3,
    'tib': 1024**4,
    'pib': 1024**5,
    'kb': 1000,
    'mb': 1000**2,
    'gb': 1000**3,
    'tb': 1000**4,
    'pb': 1000**5,
}
_BYTES_EXAMPLE = '"512MiB", "24GiB" or "10GB"'
_UNIT_ADVICE = (
    'use B, KiB, MiB, GiB, TiB, PiB (powers of 1024) or KB, MB, ' 'GB, TB, PB (powers of 1000)'
)
# An unsigned decimal number and a unit made of letters: no signs, no
# exponents, so "1e3" or "0x10" never parse to a surprising value.
_QUANTITY = re.compile(r'(\d*)(?:\.(\d*))?\s*(.*)', re.DOTALL)

# `autotm plan --variant` names.
METHODS = {
    'static': plan_pb2.METHOD_STATIC,
    'sync': plan_pb2.METHOD_SYNCHRONOUS,
    'async': plan_pb2.METHOD_ASYNCHRONOUS,
    'all-fast': plan_pb2.METHOD_ALL_FAST,
    'all-slow': plan_pb2.METHOD_ALL_SLOW,
    'first-touch': plan_pb2.METHOD_FIRST_TOUCH,
    'heuristic': plan_pb2.METHOD_HEURISTIC,
    '2lm': plan_pb2.METHOD_TWO_LEVEL_MEMORY,
}

# Roles whose updated version persists to the end of the iteration
# (solver/graph_model.cc); any tensor marked persistent does too.
_PERSISTENT_ROLES = frozenset(
    graph_pb2.TensorRole.Value(name)
    for name in ('TENSOR_ROLE_WEIGHT', 'TENSOR_ROLE_OPTIMIZER_STATE')
    if name in graph_pb2.TensorRole.keys()
)


def _split(what: str, text: str, s: str, example: str) -> tuple[str, str, str]:
    """Splits `s` (a part of `text`) into integer digits, fraction, unit."""
    s = s.strip()
    if not s:
        raise invalid_argument(f'invalid {what} "{text}": empty; expected e.g. ' f'{example}')
    if s.startswith('-'):
        raise invalid_argument(f'invalid {what} "{text}": must not be negative')
    match = _QUANTITY.fullmatch(s)
    int_digits, frac_digits, unit = match.group(1), match.group(2) or '', (match.group(3))
    if not int_digits and not frac_digits:
        raise invalid_argument(f'invalid {what} "{text}": expected a number first, e.g. {example}')
    if not all(c.isascii() and c.isalpha() for c in unit):
        raise invalid_argument(
            f'invalid {what} "{text}": unexpected characters after the number; '
            f'expected e.g. {example}'
        )
    return int_digits, frac_digits, unit


def parse_bytes(text: str) -> int:
    """Parses a byte count: "123", "123B", "1.5GiB", "512MB", "24 GiB".

    Binary units KiB MiB GiB TiB PiB (powers of 1024) and decimal units KB MB
    GB TB PB (powers of 1000), case-insensitive; fractions are rounded to the
    nearest byte, but plain bytes must be whole; bare prefixes ("4G") are
    rejected as ambiguous.

    Raises:
      AutotmError: INVALID_ARGUMENT for empty text, negatives, garbage,
        unknown units and values above 2**64 - 1.
    """
    what = 'byte count'
    int_digits, frac_digits, unit = _split(what, text, text, _BYTES_EXAMPLE)
    multiplier = _BYTE_UNITS.get(unit.lower())
    if multiplier is None:
        raise invalid_argument(f'invalid {what} "{text}": unknown unit "{unit}"; {_UNIT_ADVICE}')
    value = int(int_digits or '0') * multiplier
    if frac_digits.strip('0'):
        if multiplier == 1:
            raise invalid_argument(
                f'invalid {what} "{text}": a count of plain ' 'bytes must be a whole number'
            )
        fraction = fractions.Fraction(int(frac_digits), 10 ** len(frac_digits))
        value += math.floor(fraction * multiplier + fractions.Fraction(1, 2))
    if value > _MAX_U64:
        raise invalid_argument(
            f'invalid {what} "{text}": too large; the maximum ' f'is {_MAX_U64} bytes (16 EiB)'
        )
    return value


def parse_budget(text: str, peak_live_bytes: int) -> int:
    """Parses a fast-memory budget: a byte count or a percentage.

    "24GiB" and "512MB" are parse_bytes() text; "20%" or "12.5%" is a
    percentage 0 < p <= 1000 of `peak_live_bytes` (usually
    peak_live_bytes(graph), as `autotm plan --budget` uses), rounded down so
    the budget never exceeds what was asked.

    Raises:
      AutotmError: INVALID_ARGUMENT as parse_bytes(), or for a percentage out
        of range.
    """
    what = 'budget'
    s = text.strip()
    if not s.endswith('%'):
        try:
            return parse_bytes(text)
        except AutotmError as e:  # Say that percentages exist too.
            raise invalid_argument(
                f'{e.message}; a budget may also be a percentage of the peak '
                'live bytes, e.g. "20%"'
            ) from None
    int_digits, frac_digits, unit = _split(what, text, s[:-1], '"20%"')
    if unit:
        raise invalid_argument(f'invalid {what} "{text}": expected a percentage such as "20%"')
    # The C++ parser reads the percentage as a double: so do we, then compute
    # exactly.
    percent = float(f'{int_digits or "0"}.{frac_digits or "0"}')
    if not 0 < percent <= 1000:
        raise invalid_argument(f'invalid {what} "{text}": a percentage must be in (0, 1000]')
    if percent == 100:
        return peak_live_bytes
    value = math.floor(fractions.Fraction(peak_live_bytes) * fractions.Fraction(percent) / 100)
    return min(value, _MAX_U64)


def parse_duration(text: str) -> float:
    """Parses a duration into seconds: "500ms", "60s", "1.5s", "2min", "1h".

    Units us, ms, s (sec), min (m), h, case-insensitive; no unit means
    seconds.

    Raises:
      AutotmError: INVALID_ARGUMENT for empty text, negatives, garbage and
        unknown units.
    """
    what = 'duration'
    int_digits, frac_digits, unit = _split(what, text, text, '"500ms", "60s" or "2min"')
    scales = {
        '': 1.0,
        's': 1.0,
        'sec': 1.0,
        'us': 1e-6,
        'ms': 1e-3,
        'm': 60.0,
        'min': 60.0,
        'h': 3600.0,
    }
    scale = scales.get(unit.lower())
    if scale is None:
        raise invalid_argument(
            f'invalid {what} "{text}": unknown unit "{unit}"; ' 'use us, ms, s, min or h'
        )
    seconds = float(f'{int_digits or "0"}.{frac_digits or "0"}') * scale
    if not math.isfinite(seconds):
        raise invalid_argument(f'invalid {what} "{text}": the number is out of ' 'range')
    return seconds


def format_bytes(value: int) -> str:
    """ "0 B", "512 B", "1.00 KiB", "1.50 GiB" (as the CLI prints sizes)."""
    if value < 1024:
        return f'{value} B'
    units = ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB')
    scaled = float(value)
    unit = 0
    while scaled >= 1024 and unit + 1 < len(units):
        scaled /= 1024
        unit += 1
    return f'{scaled:.2f} {units[unit]}'


def peak_live_bytes(graph: graph_pb2.Graph, alignment_bytes: int = DEFAULT_ALIGNMENT_BYTES) -> int:
    """The fast memory that runs all of `graph` in the fast tier.

    The most bytes live at any kernel, each tensor rounded up to
    `alignment_bytes` (0 or 1: exact sizes): what `autotm plan --budget 100%`
    means. A tensor lives from its producer (kernel 0 for graph arguments) to
    its last reader; updated weights and optimizer state to the last kernel
    (the same rules as the planner, solver/graph_model.cc). The graph is not
    otherwise validated; the server does that.

    Raises:
      AutotmError: INVALID_ARGUMENT for a kernel naming an unknown tensor.
    """
    index = {tensor.id: t for t, tensor in enumerate(graph.tensors)}
    num_kernels = len(graph.kernels)
    producer = [-1] * len(index)
    last_read = [-1] * len(index)
    for k, kernel in enumerate(graph.kernels):
        for ids, is_output in ((kernel.inputs, False), (kernel.outputs, True)):
            for tensor_id in ids:
                t = index.get(tensor_id)
                if t is None:
                    raise invalid_argument(
                        f"kernel '{kernel.id}' (kernel #{k}): " f"unknown tensor id '{tensor_id}'"
                    )
                if is_output:
                    producer[t] = k
                else:
                    last_read[t] = k
    alignment = max(alignment_bytes, 1)
    delta = [0] * (num_kernels + 1)
    for t, tensor in enumerate(graph.tensors):
        if producer[t] < 0:
            first, last = 0, last_read[t]
            if last < 0:
                continue  # neither produced nor used: the server refuses the graph
        else:
            first = producer[t]
            last = last_read[t] if last_read[t] >= 0 else producer[t]
            if tensor.role in _PERSISTENT_ROLES:
                last = num_kernels - 1
        if tensor.persistent:
            last = num_kernels - 1
        size = -(-tensor.size_bytes // alignment) * alignment
        delta[first] += size
        delta[last + 1] -= size
    peak = live = 0
    for change in delta[:num_kernels]:
        live += change
        peak = max(peak, live)
    return peak


def parse_method(method: Union[str, int, None]) -> int:
    """The autotm.v1.Method for a name.

    Args:
      method: a `autotm plan --variant` name ("static", "sync", "async",
        "all-fast", "all-slow", "first-touch"), a proto enum name
        ("METHOD_SYNCHRONOUS"), an enum value, or None (METHOD_UNSPECIFIED:
        the server's default).

    Raises:
      AutotmError: INVALID_ARGUMENT for an unknown name or value.
    """
    if method is None:
        return plan_pb2.METHOD_UNSPECIFIED
    if isinstance(method, int) and not isinstance(method, bool):
        if method in plan_pb2.Method.values():
            return method
    elif isinstance(method, str):
        if method.lower() in METHODS:
            return METHODS[method.lower()]
        if method.upper() in plan_pb2.Method.keys():
            return plan_pb2.Method.Value(method.upper())
    raise invalid_argument(f'unknown method {method!r}; expected one of ' f'{", ".join(METHODS)}')


def parse_job_state(state: Union[str, int, None]) -> int:
    """The SolveJob.State for "queued", "RUNNING", an enum value or None."""
    if state is None:
        return job_pb2.SolveJob.STATE_UNSPECIFIED
    names = job_pb2.SolveJob.State
    if isinstance(state, int) and not isinstance(state, bool):
        if state in names.values():
            return state
    elif isinstance(state, str) and state.upper() in names.keys():
        return names.Value(state.upper())
    raise invalid_argument(
        f'unknown job state {state!r}; expected one of queued, running, '
        'succeeded, failed, cancelled'
    )


def optional_seconds(value: Union[float, str, None]) -> Optional[float]:
    """None, a number of seconds, or parse_duration() text, as seconds."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    return parse_duration(value)
