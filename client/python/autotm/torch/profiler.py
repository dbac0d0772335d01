"""Kernel profiling of captured aten ops on the host's two memory tiers.

The PyTorch counterpart of ``autotm-agent`` (profiler-agent/, docs/AGENT.md):
for every unique kernel signature of a captured graph (or of the server's
work list for a host class) it runs the real aten op with each operand in
the fast or the slow tier as an IO configuration says, times it, and
measures the copy bandwidths between the tiers, giving the
``autotm.v1.Profile`` the planner needs. Tiers are the agent's own
(``autotm._tiers`` over profiler-agent/tier.h): ``numa:N`` (mbind, every page
checked with move_pages) or ``file:DIR`` (a mapped file, checked with
/proc/self/maps and mincore).

How a kernel runs (the signature contract is ``autotm.torch.signature``):

- Every input operand is a buffer allocated on its configuration's tier,
  seen through ``torch.frombuffer`` and rebuilt as the captured (possibly
  strided) view; floats are filled with a fixed uniform [0.5, 1.5] sequence
  (sqrt, log, div stay finite), integers with 0 (indices stay valid), bools
  with False.
- Outputs: when the op has an ``out=`` overload (same name, trailing ``_``
  of an in-place op dropped, the same other arguments, one out argument per
  output), the outputs are buffers on their tiers passed as ``out=``; an
  in-place op (``add_``) is timed as its functional out form (``add.out``),
  which reads the old tensor and writes a new one as the captured graph does
  and keeps the data from drifting over repetitions. An out overload that
  is composite (``convolution.out`` in torch 1.13: the op, then a copy into
  ``out``) is not used: such an op computes in fast memory whatever ``out``
  says, so it is measured as it runs, outputs fast, and a slow output is a
  move after it (which the planner prices, and counts in fast memory while
  the kernel runs, as it is).
- Without an out overload an in-place op runs in place (its output is the
  input's buffer: only configurations with both on one tier are measured),
  and any other op's outputs come from PyTorch's default allocator, checked
  to be on the fast tier: only configurations with every such output fast
  are measured. A table lacking a configuration means the planner never
  picks it (proto/autotm/v1/profile.proto).
- Inputs an op writes without returning them (``native_batch_norm``'s
  running statistics: the signature's ``writes`` attribute, extra outputs
  after the returned ones) are written in place, so their new version is on
  the input's tier: configurations splitting the two are not measured.

Configurations: operand p (inputs, then outputs) is slow iff bit p; the text
is "FS|F". A full table when 2^n <= max_configs, of the configurations at
least one operand usage allows (a kernel reading one tensor twice never
splits it; a pinned tensor never moves: solver::UsableConfigs) and that can
be run as above; also when 2^n is larger but the configurations that can be
run at all number at most max_configs (native_batch_norm in training: 5
inputs, 3 outputs from the allocator, 2 written in place -> 2^5 = 32);
else a separable cost from n + 1 runs (all fast, then each operand alone
slow; penalty = max(0, t - t_fast)). For an input written in
place, its slow run moves its written version too and the penalty is the
input's (the written version's is 0). A separable kernel whose outputs come
from PyTorch's allocator has unknown output penalties: it is reported as
not measurable, never guessed.

Placement is verified after each configuration's runs (and ``out=`` tensors
checked not to have been reallocated): a buffer that is not where its
configuration says is an error (FAILED_PRECONDITION), never a measurement.
Ops that cannot run (unknown op, a dtype the CPU kernel lacks, a signature
the op rejects) are listed as "KEY: reason" and left out of the profile.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import os
import sys
import time
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import grpc
import torch
from torch.utils._pytree import tree_flatten

from autotm import _json
from autotm import _tiers
from autotm._errors import AutotmError, invalid_argument
from autotm.v1 import graph_pb2, profile_pb2

from . import signature as sigmod

TierLike = Union[str, "_tiers.Tier"]

# --------------------------------------------------------------------------
# Signature keys and configuration texts (solver/signature.h,
# solver/profile_model.h).

_DTYPE_NAMES = {
    graph_pb2.DATA_TYPE_F32: "f32",
    graph_pb2.DATA_TYPE_F16: "f16",
    graph_pb2.DATA_TYPE_BF16: "bf16",
    graph_pb2.DATA_TYPE_F64: "f64",
    graph_pb2.DATA_TYPE_I32: "i32",
    graph_pb2.DATA_TYPE_I64: "i64",
    graph_pb2.DATA_TYPE_I8: "i8",
    graph_pb2.DATA_TYPE_U8: "u8",
    graph_pb2.DATA_TYPE_BOOL: "bool",
}


def _operand_key(spec: graph_pb2.OperandSpec) -> str:
    return f"{_DTYPE_NAMES.get(spec.dtype, '?')}[{','.join(str(d) for d in spec.dims)}]"


def signature_key(signature: graph_pb2.KernelSignature) -> str:
    """The canonical key profiles are stored under, exactly as
    solver::SignatureKey: ``op(in0,...)->(out0,...){attr=value,...}`` with
    operands as ``dtype[d0,d1,...]`` and attributes sorted by name (the
    braces only when there are attributes)."""
    key = (
        f"{signature.op}({','.join(_operand_key(s) for s in signature.inputs)})->"
        f"({','.join(_operand_key(s) for s in signature.outputs)})"
    )
    if signature.attributes:
        # Byte order, as std::sort over std::string pairs.
        items = sorted(
            signature.attributes.items(), key=lambda kv: (kv[0].encode(), kv[1].encode())
        )
        key += "{" + ",".join(f"{k}={v}" for k, v in items) + "}"
    return key


def format_config(mask: int, num_inputs: int, num_outputs: int) -> str:
    """ "FS|F": one letter per operand (inputs, '|', outputs), S = bit set."""
    letters = ["S" if (mask >> p) & 1 else "F" for p in range(num_inputs + num_outputs)]
    return "".join(letters[:num_inputs]) + "|" + "".join(letters[num_inputs:])


# --------------------------------------------------------------------------
# Work lists (solver/work_list.h): unique signatures and operand usages.


def usage_of(
    kernel: graph_pb2.Kernel, fixed_tier_of: Callable[[str], int]
) -> profile_pb2.OperandUsage:
    """How ``kernel`` uses its operand positions (solver::UsageOf): for each
    position the first position naming the same tensor, and its pinned
    tier (TIER_UNSPECIFIED when free)."""
    ids = list(kernel.inputs) + list(kernel.outputs)
    usage = profile_pb2.OperandUsage()
    for p, tensor_id in enumerate(ids):
        usage.first_position.append(ids.index(tensor_id))
        usage.fixed_tier.append(fixed_tier_of(tensor_id))
    return usage


def usage_allows(usage: profile_pb2.OperandUsage, slow_mask: int) -> bool:
    """Whether ``usage`` can produce configuration ``slow_mask``
    (solver::UsageAllows): aliased positions share their first position's
    tier and pinned tensors stay in their tier."""
    n = min(len(usage.first_position), 63)
    for p in range(n):
        slow = (slow_mask >> p) & 1
        q = usage.first_position[p]
        if 0 <= q < n and slow != ((slow_mask >> q) & 1):
            return False
    for p in range(min(len(usage.fixed_tier), 63)):
        slow = (slow_mask >> p) & 1
        tier = usage.fixed_tier[p]
        if (tier == graph_pb2.TIER_FAST and slow) or (tier == graph_pb2.TIER_SLOW and not slow):
            return False
    return True


def usable_configs(item: profile_pb2.WorkItem) -> list[int]:
    """The masks worth measuring for ``item`` (solver::UsableConfigs): those
    at least one usage allows, increasing; all 2^n when it has no usage."""
    n = len(item.signature.inputs) + len(item.signature.outputs)
    if n >= 63:
        raise invalid_argument(f"{item.signature.op}: {n} operands, at most 62 supported")
    usages = list(item.usages)
    return [
        mask for mask in range(1 << n) if not usages or any(usage_allows(u, mask) for u in usages)
    ]


def work_list_of(graph: graph_pb2.Graph) -> list[profile_pb2.WorkItem]:
    """The work list of ``graph``: each unique signature once, in kernel
    order, with the distinct operand usages of its kernels (the list the
    server's GetWorkList gives for a graph it has never seen).

    Raises:
      AutotmError: INVALID_ARGUMENT when a kernel names an undeclared tensor
        or its operand count differs from its signature's.
    """
    pinned = {}
    declared = set()
    for tensor in graph.tensors:
        if tensor.id in declared:
            raise invalid_argument(f"graph {graph.name}: tensor {tensor.id!r} declared twice")
        declared.add(tensor.id)
        if tensor.fixed_tier != graph_pb2.TIER_UNSPECIFIED:
            pinned[tensor.id] = tensor.fixed_tier

    def fixed_tier_of(tensor_id: str) -> int:
        return pinned.get(tensor_id, graph_pb2.TIER_UNSPECIFIED)

    items: list[profile_pb2.WorkItem] = []
    index: dict[str, int] = {}
    for kernel in graph.kernels:
        for tensor_id in list(kernel.inputs) + list(kernel.outputs):
            if tensor_id not in declared:
                raise invalid_argument(
                    f"graph {graph.name}: kernel {kernel.id} uses "
                    f"undeclared tensor {tensor_id!r}"
                )
        s = kernel.signature
        if len(kernel.inputs) != len(s.inputs) or len(kernel.outputs) != len(s.outputs):
            raise invalid_argument(
                f"graph {graph.name}: kernel {kernel.id} has {len(kernel.inputs)} inputs and "
                f"{len(kernel.outputs)} outputs, its signature {len(s.inputs)} and "
                f"{len(s.outputs)}"
            )
        key = signature_key(s)
        if key not in index:
            index[key] = len(items)
            items.append(profile_pb2.WorkItem(signature=s, graphs=1))
        item = items[index[key]]
        usage = usage_of(kernel, fixed_tier_of)
        if not any(u == usage for u in item.usages):
            item.usages.append(usage)
    return items


# --------------------------------------------------------------------------
# Host fingerprint and tiers.


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    _, _, value = line.partition(":")
                    return value.strip()
    except OSError:
        pass
    return "unknown CPU"


def _cpu_capability() -> str:
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def host_fingerprint(fast: "_tiers.Tier", slow: "_tiers.Tier") -> str:
    """What aten kernel timings depend on: CPU model, torch's intra-op
    threads, the torch version and its CPU capability, both tiers. It never
    equals an autotm-agent (oneDNN) fingerprint, so the two never mix in one
    host class."""
    return (
        f"cpu={_cpu_model()}; threads={torch.get_num_threads()}; "
        f"torch={torch.__version__} aten (CPU capability {_cpu_capability()}); "
        f"fast={fast.description}; slow={slow.description}"
    )


def _tier_error(error: Exception, context: str = "") -> AutotmError:
    prefix = f"{context}: " if context else ""
    if isinstance(error, _tiers.TierError):
        code = getattr(grpc.StatusCode, getattr(error, "code", "UNKNOWN"), grpc.StatusCode.UNKNOWN)
        return AutotmError(code, prefix + str(error))
    return invalid_argument(prefix + str(error))


def make_tier(spec: TierLike) -> "_tiers.Tier":
    """A tier from "numa:N" / "file:DIR" (or a Tier, returned as is).

    Raises:
      AutotmError: INVALID_ARGUMENT for a bad spec or a missing node, the
        tier's code (NOT_FOUND, PERMISSION_DENIED, ...) otherwise.
    """
    if isinstance(spec, _tiers.Tier):
        return spec
    try:
        return _tiers.Tier(spec)
    except (ValueError, _tiers.TierError) as e:
        raise _tier_error(e, f"tier {spec!r}") from None


# --------------------------------------------------------------------------
# Timing (profiler-agent/measure.h).


@dataclasses.dataclass
class Measurement:
    median_us: float
    spread: float  # (q75 - q25) / median
    repetitions: int


def _quantile(sorted_times: Sequence[float], q: float) -> float:
    pos = q * (len(sorted_times) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_times) - 1)
    return sorted_times[lo] + (pos - lo) * (sorted_times[hi] - sorted_times[lo])


def _summarize(times_us: list[float]) -> Measurement:
    s = sorted(times_us)
    median = _quantile(s, 0.5)
    spread = (_quantile(s, 0.75) - _quantile(s, 0.25)) / median if median > 0 else 0.0
    return Measurement(median, spread, len(s))


def _check_timing(
    warmup: int, min_reps: int, max_reps: int, max_spread: float, max_time_ms: float
) -> None:
    if (
        warmup < 0
        or min_reps < 1
        or max_reps < min_reps
        or not max_spread >= 0
        or not max_time_ms >= 0
    ):
        raise invalid_argument(
            "timing options: need warmup >= 0, 1 <= min_reps <= max_reps, max_spread >= 0 "
            f"and max_time_ms >= 0 (got {warmup}, {min_reps}, {max_reps}, {max_spread}, "
            f"{max_time_ms})"
        )


def measure_repeated(
    run: Callable[[], Any],
    *,
    warmup: int = 2,
    min_reps: int = 5,
    max_reps: int = 50,
    max_spread: float = 0.05,
    max_time_ms: float = 2000.0,
) -> Measurement:
    """Runs ``run`` ``warmup`` times, then times it until the spread is at
    most ``max_spread`` (after ``min_reps``), or ``max_reps`` runs, or
    ``max_time_ms`` of timed work (agent::MeasureRepeated)."""
    _check_timing(warmup, min_reps, max_reps, max_spread, max_time_ms)
    for _ in range(warmup):
        run()
    times: list[float] = []
    total = 0.0
    max_us = max_time_ms * 1e3
    clock = time.perf_counter_ns
    while True:
        start = clock()
        run()
        us = (clock() - start) / 1e3
        times.append(us)
        total += us
        n = len(times)
        if n >= max_reps:
            break
        if n >= min_reps and (total >= max_us or _summarize(times).spread <= max_spread):
            break
    return _summarize(times)


# --------------------------------------------------------------------------
# Running one signature.


class _Unsupported(Exception):
    """The signature cannot be measured; the message says why."""


_TENSOR_OPTIONS = frozenset(("dtype", "layout", "device", "pin_memory"))


def _find_out_overload(
    func: torch._ops.OpOverload, base_name: str, num_outputs: int
) -> Optional[torch._ops.OpOverload]:
    """The overload of aten::``base_name`` that computes what ``func`` does
    into ``num_outputs`` out= tensors: its non-out arguments are ``func``'s
    (same names and types; ``func``'s tensor options may be absent, the out
    tensors carry them) and it has one Tensor out argument per output."""
    if num_outputs == 0:
        return None
    packet = getattr(torch.ops.aten, base_name, None)
    if packet is None:
        return None
    args = {a.name: str(a.type) for a in func._schema.arguments if not a.is_out}
    for overload in packet.overloads():
        candidate = getattr(packet, overload)
        outs = [a for a in candidate._schema.arguments if a.is_out]
        if len(outs) != num_outputs or any(str(a.type) != "Tensor" for a in outs):
            continue
        others = {a.name: str(a.type) for a in candidate._schema.arguments if not a.is_out}
        if any(args.get(name) != kind for name, kind in others.items()):
            continue
        if any(name not in others and name not in _TENSOR_OPTIONS for name in args):
            continue
        if not _has_cpu_kernel(candidate):
            continue  # e.g. native_batch_norm.out in torch 1.13: a schema only
        return candidate
    return None


def _has_cpu_kernel(func: torch._ops.OpOverload, *, direct: bool = False) -> bool:
    """Whether the dispatcher runs ``func`` on CPU; with ``direct``, only a
    kernel registered for CPU itself counts -- a composite one does not (e.g.
    the out= forms torch 1.13 generates for functional ops: the functional
    op, then a copy into out=)."""
    check = getattr(
        torch._C,
        "_dispatch_has_kernel_for_dispatch_key"
        if direct
        else "_dispatch_has_computed_kernel_for_dispatch_key",
        None,
    )
    if check is None:
        return True
    schema = func._schema
    name = f"{schema.name}.{schema.overload_name}" if schema.overload_name else schema.name
    return bool(check(name, "CPU"))


@dataclasses.dataclass
class _CallPlan:
    """How a signature's op is run and where each output ends up."""

    target: torch._ops.OpOverload  # what is called
    returned: int  # outputs the call returns (the rest are hidden writes)
    out_outputs: list[int]  # passed as out= tensors, in out-argument order
    tied: dict[int, int]  # output -> input whose buffer the op writes it into
    default_outputs: list[int]  # from PyTorch's allocator: must be fast
    how: str  # for messages


def _operand_index(signature: graph_pb2.KernelSignature, text: str) -> int:
    value = sigmod.parse_literal(text, list(range(len(signature.inputs))))
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unsupported(f"expected one input operand, got {text!r}")
    return value


def _plan_call(signature: graph_pb2.KernelSignature) -> _CallPlan:
    try:
        func = sigmod.resolve_op(signature.op)
    except sigmod.SignatureError as e:
        raise _Unsupported(str(e)) from None
    num_inputs, num_outputs = len(signature.inputs), len(signature.outputs)
    writes: list[int] = []
    if "writes" in signature.attributes:
        try:
            value = sigmod.parse_literal(signature.attributes["writes"], list(range(num_inputs)))
        except sigmod.SignatureError as e:
            raise _Unsupported(f"attribute writes: {e}") from None
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            raise _Unsupported(
                f"attribute writes={signature.attributes['writes']} "
                "is not a list of input operands"
            )
        writes = value
    returned = num_outputs - len(writes)
    if returned < 0:
        raise _Unsupported(
            f"writes names {len(writes)} inputs but the signature has only "
            f"{num_outputs} outputs"
        )
    tied = {returned + m: j for m, j in enumerate(writes)}
    schema = func._schema
    name = schema.name.partition("::")[2]
    written_args = [
        a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write
    ]
    base = name[:-1] if written_args and name.endswith("_") and not name.endswith("__") else name
    out = _find_out_overload(func, base, returned)
    if out is not None and not written_args and not _has_cpu_kernel(out, direct=True):
        # A composite out= form (convolution.out in torch 1.13: the op, then
        # a copy into out=) cannot write an output into the slow tier
        # directly either: it computes in fast memory first. So the op is
        # measured as it runs, outputs fast; a slow output is a copy after
        # it, which the planner prices as a move (and counts in fast memory
        # while the kernel runs, as it is).
        out = None
    if out is not None:
        return _CallPlan(
            out,
            returned,
            list(range(returned)),
            tied,
            [],
            f"aten::{base}.{out._schema.overload_name} with out=",
        )
    if not written_args:
        return _CallPlan(
            func,
            returned,
            [],
            tied,
            list(range(returned)),
            "outputs from PyTorch's allocator (no out= overload)",
        )
    # In place without an out form: a returned alias of a written argument is
    # that argument's buffer; anything else comes from the allocator.
    default = []
    if len(schema.returns) < returned:
        raise _Unsupported(
            f"the op returns {len(schema.returns)} values, the signature "
            f"has {returned} returned outputs"
        )
    for r in range(returned):
        alias = schema.returns[r].alias_info
        if alias is None or not alias.is_write:
            default.append(r)
            continue
        arg = next((a for a in written_args if a.alias_info.before_set == alias.after_set), None)
        text = signature.attributes.get(arg.name) if arg is not None else None
        if text is None:
            raise _Unsupported(f"cannot tell which input the in-place output {r} is written to")
        tied[r] = _operand_index(signature, text)
    return _CallPlan(func, returned, [], tied, default, "in place (no out= overload)")


def _measurable(plan: _CallPlan, mask: int, num_inputs: int) -> bool:
    """Whether the op can run with the tiers ``mask`` names."""
    for o, j in plan.tied.items():
        if ((mask >> (num_inputs + o)) & 1) != ((mask >> j) & 1):
            return False
    return not any((mask >> (num_inputs + o)) & 1 for o in plan.default_outputs)


def _separable_probes(plan: _CallPlan, num_inputs: int, num_outputs: int) -> list[int]:
    """The masks of a separable cost: all fast, then one per operand (an
    input written in place moves its written version with it; such a
    version's own entry is 0, meaning no run)."""
    if plan.default_outputs:
        raise _Unsupported(
            f"too many operands for a full table and outputs "
            f"{plan.default_outputs} come from PyTorch's allocator (no out= overload), so "
            "their slow-tier penalties cannot be measured"
        )
    probes = [0]
    for p in range(num_inputs + num_outputs):
        if p >= num_inputs and (p - num_inputs) in plan.tied:
            probes.append(0)
            continue
        mask = 1 << p
        for o, j in plan.tied.items():
            if j == p:
                mask |= 1 << (num_inputs + o)
        probes.append(mask)
    return probes


def _fill(flat: torch.Tensor, seed: int) -> None:
    if flat.numel() == 0:
        return
    if flat.dtype.is_floating_point:
        generator = torch.Generator().manual_seed(seed)
        values = torch.empty(flat.numel(), dtype=torch.float32)
        values.uniform_(0.5, 1.5, generator=generator)
        flat.copy_(values)
    elif flat.dtype == torch.bool:
        flat.fill_(False)
    else:
        flat.zero_()


class _Operands:
    """The buffers of one signature's operands, per tier, made on first use
    and kept for all its configurations (inputs hold the same values on
    either tier)."""

    def __init__(
        self, signature: graph_pb2.KernelSignature, fast: "_tiers.Tier", slow: "_tiers.Tier"
    ) -> None:
        self._signature = signature
        self._tiers = (fast, slow)
        self._made: dict[tuple[str, int, int], tuple[torch.Tensor, "_tiers.Buffer"]] = {}

    def get(self, kind: str, index: int, slow: int) -> tuple[torch.Tensor, "_tiers.Buffer"]:
        key = (kind, index, slow)
        made = self._made.get(key)
        if made is None:
            spec = (self._signature.inputs if kind == "in" else self._signature.outputs)[index]
            try:
                dtype = sigmod.torch_dtype(spec.dtype)
                numel = sigmod.storage_numel(self._signature, kind, index)
            except sigmod.SignatureError as e:
                raise _Unsupported(f"{kind}{index}: {e}") from None
            itemsize = torch.empty((), dtype=dtype).element_size()
            tier = self._tiers[slow]
            try:
                buffer = tier.allocate(max(1, numel * itemsize))
            except (ValueError, _tiers.TierError) as e:
                raise _tier_error(e, f"{kind}{index} on {tier.spec}") from None
            flat = torch.frombuffer(buffer, dtype=dtype, count=max(1, numel))[:numel]
            if kind == "in":
                _fill(flat, seed=1 + index)
            try:
                view = sigmod.view_of(flat, self._signature, kind, index)
            except (sigmod.SignatureError, RuntimeError) as e:
                raise _Unsupported(f"{kind}{index}: cannot rebuild its view: {e}") from None
            made = (view, buffer)
            self._made[key] = made
        return made


def _bind(
    target: torch._ops.OpOverload,
    signature: graph_pb2.KernelSignature,
    inputs: Sequence[torch.Tensor],
    outs: Sequence[torch.Tensor],
) -> Callable[[], Any]:
    """``target`` called with the signature's argument values (``tN`` =
    ``inputs[N]``) and ``outs`` as its out arguments, in order."""
    positional, keyword = [], {}
    out_iter = iter(outs)
    device = torch.device("cpu")
    for arg in target._schema.arguments:
        if arg.is_out:
            value = next(out_iter)
        elif arg.name in signature.attributes:
            try:
                value = sigmod.parse_literal(signature.attributes[arg.name], inputs, device)
            except sigmod.SignatureError as e:
                raise _Unsupported(f"attribute {arg.name}: {e}") from None
        elif arg.has_default_value():
            value = arg.default_value
        else:
            raise _Unsupported(f"attribute {arg.name!r} missing")
        if arg.kwarg_only:
            keyword[arg.name] = value
        else:
            positional.append(value)
    return lambda: target(*positional, **keyword)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _spec_text(t: torch.Tensor) -> str:
    return f"{str(t.dtype).replace('torch.', '')}{list(t.shape)}"


class _KernelRunner:
    """Runs one signature under configurations."""

    def __init__(
        self,
        signature: graph_pb2.KernelSignature,
        plan: _CallPlan,
        fast: "_tiers.Tier",
        slow: "_tiers.Tier",
        key: str,
    ) -> None:
        self._s = signature
        self._plan = plan
        self._fast, self._slow = fast, slow
        self._key = key
        self._operands = _Operands(signature, fast, slow)

    def measure(self, mask: int, timing: dict) -> Measurement:
        return self._measure(self._plan, mask, timing)

    def _measure(self, plan: _CallPlan, mask: int, timing: dict) -> Measurement:
        s = self._s
        ni, no = len(s.inputs), len(s.outputs)
        config = format_config(mask, ni, no)
        bit = lambda p: (mask >> p) & 1  # noqa: E731
        ins = [self._operands.get("in", i, bit(i)) for i in range(ni)]
        outs = {o: self._operands.get("out", o, bit(ni + o)) for o in plan.out_outputs}
        inputs = [view for view, _ in ins]
        out_views = [outs[o][0] for o in plan.out_outputs]
        out_ptrs = [v.data_ptr() for v in out_views]
        call = _bind(plan.target, s, inputs, out_views)

        # First run: the op accepts the operands and returns what the
        # signature says; then the timed runs.
        try:
            result = call()
        except Exception as e:  # noqa: BLE001 - any op error: not runnable
            raise _Unsupported(f"{plan.how}: {_first_line(e)}") from None
        returned, _ = tree_flatten(result)
        returned = [t for t in returned if isinstance(t, torch.Tensor)]
        self._check_outputs(plan, returned, inputs, out_views, out_ptrs, outs)
        del result, returned
        try:
            m = measure_repeated(
                call,
                warmup=max(0, timing["warmup"] - 1),
                min_reps=timing["min_reps"],
                max_reps=timing["max_reps"],
                max_spread=timing["max_spread"],
                max_time_ms=timing["max_time_ms"],
            )
        except AutotmError:
            raise
        except Exception as e:  # noqa: BLE001
            raise _Unsupported(f"{plan.how}: {_first_line(e)}") from None

        # Still where the configuration says, or refuse.
        for o, view, ptr in zip(plan.out_outputs, out_views, out_ptrs):
            if view.data_ptr() != ptr:
                raise AutotmError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{self._key} config {config}: output {o} was reallocated",
                )
        used = [(f"input {i}", buffer, bit(i)) for i, (_, buffer) in enumerate(ins)]
        used += [(f"output {o}", outs[o][1], bit(ni + o)) for o in plan.out_outputs]
        for what, buffer, slow in used:
            tier = self._slow if slow else self._fast
            try:
                tier.verify(buffer)
            except _tiers.TierError as e:
                raise AutotmError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{self._key} config {config}: {what} is not on " f"{tier.spec}: {e}",
                ) from None
        return m

    def _check_outputs(self, plan, returned, inputs, out_views, out_ptrs, outs) -> None:
        s = self._s
        if len(returned) != plan.returned:
            raise _Unsupported(
                f"{plan.how}: the op returned {len(returned)} tensors, the "
                f"signature has {plan.returned} returned outputs"
            )
        for o, view, ptr in zip(plan.out_outputs, out_views, out_ptrs):
            if (
                view.data_ptr() != ptr
                or returned[o].data_ptr() != ptr
                or view.storage().data_ptr() != outs[o][1].address
                or list(returned[o].shape) != list(s.outputs[o].dims)
            ):
                raise _Unsupported(
                    f"{plan.how}: the op resized or reallocated out= output {o} (it "
                    f"computes {_spec_text(returned[o])}; the signature says "
                    f"{_operand_key(s.outputs[o])})"
                )
        for o, j in plan.tied.items():
            if o >= plan.returned:
                continue  # a hidden write: not returned
            if returned[o].data_ptr() != inputs[j].data_ptr():
                raise _Unsupported(
                    f"{plan.how}: returned output {o} is not input {j} " "written in place"
                )
        for o in plan.default_outputs:
            t = returned[o]
            expected = s.outputs[o]
            if list(t.shape) != list(expected.dims) or sigmod.data_type(t.dtype) != expected.dtype:
                raise _Unsupported(
                    f"output {o} is {_spec_text(t)}, the signature says "
                    f"{_operand_key(expected)}"
                )
            storage = t.storage()
            nbytes = storage.nbytes()
            if nbytes == 0:
                continue
            if any(v.storage().data_ptr() == storage.data_ptr() for v in inputs):
                raise _Unsupported(f"output {o} is a view of an input, not a new tensor")
            # Where PyTorch's allocator puts outputs: touch every page (the
            # result is discarded) and check it is the fast tier.
            ctypes.memset(storage.data_ptr(), 0, nbytes)
            try:
                self._fast.verify(storage.data_ptr(), nbytes)
            except _tiers.TierError as e:
                hint = (
                    " (run under numactl --membind=<fast node> to make it)"
                    if self._fast.spec.startswith("numa:")
                    else ""
                )
                raise _Unsupported(
                    f"{plan.how}, and PyTorch's allocator does not place output {o} on "
                    f"the fast tier {self._fast.spec}: {e}{hint}"
                ) from None


# --------------------------------------------------------------------------
# Profiling a work list.


@dataclasses.dataclass
class Progress:
    done_configs: int
    total_configs: int
    current: str  # signature key being measured
    elapsed_s: float
    eta_s: Optional[float]  # None until something was measured


class ProfileResult(tuple):
    """``(profile, unsupported)`` as a tuple, plus ``measured_kernels`` and
    ``cached_kernels``.

    ``profile`` is the autotm.v1.Profile; ``unsupported`` the signatures not
    measured, as sorted "KEY: reason" texts (the profile lacks them)."""

    def __new__(cls, profile, unsupported, measured_kernels=0, cached_kernels=0):
        self = super().__new__(cls, (profile, unsupported))
        self.measured_kernels = measured_kernels
        self.cached_kernels = cached_kernels
        return self

    @property
    def profile(self) -> profile_pb2.Profile:
        return self[0]

    @property
    def unsupported(self) -> list[str]:
        return self[1]


@dataclasses.dataclass
class _Job:
    item: profile_pb2.WorkItem
    key: str
    plan: Optional[_CallPlan] = None
    masks: list[int] = dataclasses.field(default_factory=list)
    table: bool = True
    reason: str = ""


def _prepare_job(item: profile_pb2.WorkItem, key: str, max_configs: int) -> _Job:
    s = item.signature
    ni, no = len(s.inputs), len(s.outputs)
    n = ni + no
    job = _Job(item, key)
    try:
        job.plan = plan = _plan_call(s)
        # Operands whose tier a configuration may choose: not outputs from
        # PyTorch's allocator (fast) or written into an input (its tier).
        free = [
            p
            for p in range(n)
            if p < ni or (p - ni not in plan.tied and p - ni not in plan.default_outputs)
        ]
        if n < 63 and (1 << n) <= max_configs:
            job.masks = [m for m in usable_configs(item) if _measurable(plan, m, ni)]
        elif len(free) < 63 and (1 << len(free)) <= max_configs:
            # Too many operands for 2^n, but the configurations that can run
            # at all fit: a table of those.
            usages = list(item.usages)
            for sub in range(1 << len(free)):
                mask = 0
                for bit, p in enumerate(free):
                    if (sub >> bit) & 1:
                        mask |= 1 << p
                for o, j in plan.tied.items():
                    if (mask >> j) & 1:
                        mask |= 1 << (ni + o)
                if not usages or any(usage_allows(u, mask) for u in usages):
                    job.masks.append(mask)
            job.masks.sort()
        else:
            job.table = False
            job.masks = _separable_probes(plan, ni, no)
        if job.table and not job.masks:
            raise _Unsupported(f"{plan.how}: no usable configuration can be run")
    except _Unsupported as e:
        job.reason = str(e)
        job.masks = []
    return job


def profile_work_list(
    items: Iterable[profile_pb2.WorkItem],
    fast: TierLike,
    slow: TierLike,
    *,
    host_class: str = "local",
    max_configs: int = 256,
    warmup: int = 2,
    min_reps: int = 5,
    max_reps: int = 50,
    max_spread: float = 0.05,
    max_time_ms: float = 2000.0,
    copy_bytes: int = 64 << 20,
    copy_threads: int = 0,
    cache_path: Optional[str] = None,
    on_progress: Optional[Callable[[Progress], None]] = None,
) -> ProfileResult:
    """Measures every item of ``items`` and the copy bandwidths.

    Args:
      items: autotm.v1.WorkItems (work_list_of(graph), or a server's list).
      fast, slow: tiers or their specs ("numa:0", "file:/mnt/pmem").
      host_class: the profile's HostClass.name.
      max_configs: a full table when 2^n <= this (or when the configurations
        that can run at all are at most this many), else a separable cost.
      warmup, min_reps, max_reps, max_spread, max_time_ms: timing per
        configuration, as autotm-agent's MeasureOptions.
      copy_bytes, copy_threads: the copy probe (threads 0 = torch's
        intra-op threads).
      cache_path: a Profile JSON file of what was measured so far: read first
        (its kernels are not measured again) and rewritten atomically after
        each kernel.
      on_progress: called before and after each configuration.

    Returns:
      ProfileResult: (profile, unsupported) plus the kernel counts.

    Raises:
      AutotmError: FAILED_PRECONDITION for a cache measured with another
        fingerprint or a buffer that is not on its tier after the runs;
        INVALID_ARGUMENT for bad options; the tiers' errors as they come.
    """
    if max_configs < 1:
        raise invalid_argument(f"max_configs must be >= 1, not {max_configs}")
    _check_timing(warmup, min_reps, max_reps, max_spread, max_time_ms)
    if copy_bytes < 1:
        raise invalid_argument(f"copy_bytes must be >= 1, not {copy_bytes}")
    fast, slow = make_tier(fast), make_tier(slow)
    timing = dict(
        warmup=warmup,
        min_reps=min_reps,
        max_reps=max_reps,
        max_spread=max_spread,
        max_time_ms=max_time_ms,
    )

    profile = profile_pb2.Profile()
    host = profile.host_class
    host.name = host_class
    host.fingerprint = host_fingerprint(fast, slow)
    host.fast_tier_name = fast.description
    host.slow_tier_name = slow.description

    jobs: list[_Job] = []
    seen = set()
    for item in items:
        key = signature_key(item.signature)
        if key not in seen:
            seen.add(key)
            jobs.append(_Job(item, key))

    cached: dict[str, profile_pb2.KernelProfile] = {}
    if cache_path and os.path.exists(cache_path):
        old = _json.load_profile(cache_path)
        if old.host_class.fingerprint != host.fingerprint:
            raise AutotmError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'cache {cache_path} was measured on "{old.host_class.fingerprint}", this run '
                f'is "{host.fingerprint}"; remove it or use another cache file',
            )
        for k in old.kernels:
            cached[signature_key(k.signature)] = k
        profile.bandwidths.CopyFrom(old.bandwidths)

    def save() -> None:
        if cache_path:
            _json.save_message(profile, cache_path)

    bw = profile.bandwidths
    if not (
        bw.slow_to_fast_sync_gb_per_s > 0
        and bw.fast_to_slow_sync_gb_per_s > 0
        and bw.slow_to_fast_async_gb_per_s > 0
        and bw.fast_to_slow_async_gb_per_s > 0
    ):
        threads = copy_threads if copy_threads > 0 else torch.get_num_threads()
        probe = dict(
            warmup=warmup,
            min_reps=min_reps,
            max_reps=max_reps,
            max_spread=max_spread,
            max_time_ms=max_time_ms,
        )
        try:
            to_fast = _tiers.measure_copy_bandwidth(slow, fast, copy_bytes, threads, **probe)
            to_slow = _tiers.measure_copy_bandwidth(fast, slow, copy_bytes, threads, **probe)
        except (ValueError, _tiers.TierError) as e:
            raise _tier_error(e, "copy bandwidth") from None
        bw.slow_to_fast_sync_gb_per_s = to_fast["sync_gb_per_s"]
        bw.slow_to_fast_async_gb_per_s = to_fast["async_gb_per_s"]
        bw.fast_to_slow_sync_gb_per_s = to_slow["sync_gb_per_s"]
        bw.fast_to_slow_async_gb_per_s = to_slow["async_gb_per_s"]
        save()

    for i, job in enumerate(jobs):
        if job.key not in cached:
            jobs[i] = _prepare_job(job.item, job.key, max_configs)
    total = sum(len(j.masks) for j in jobs if j.key not in cached)
    done = 0
    start = time.monotonic()

    def report(current: str) -> None:
        if on_progress is None:
            return
        elapsed = time.monotonic() - start
        eta = None if done == 0 else elapsed * (total - done) / done
        on_progress(Progress(done, total, current, elapsed, eta))

    unsupported: list[str] = []
    measured = from_cache = 0
    report("")
    with torch.no_grad():
        for job in jobs:
            if job.key in cached:
                profile.kernels.append(cached[job.key])
                from_cache += 1
                continue
            if job.reason:
                unsupported.append(f"{job.key}: {job.reason}")
                continue
            s = job.item.signature
            ni, no = len(s.inputs), len(s.outputs)
            kernel = profile_pb2.KernelProfile(signature=s)
            runner = _KernelRunner(s, job.plan, fast, slow, job.key)
            times: dict[int, float] = {}
            done_here = 0
            try:
                for mask in job.masks:
                    report(job.key)
                    if mask in times:  # a separable entry that needs no run
                        done += 1
                        done_here += 1
                        continue
                    m = runner.measure(mask, timing)
                    times[mask] = m.median_us
                    if job.table:
                        kernel.configs.add(
                            config=format_config(mask, ni, no),
                            time_us=m.median_us,
                            spread=m.spread,
                            repetitions=m.repetitions,
                        )
                    done += 1
                    done_here += 1
                    report(job.key)
            except _Unsupported as e:
                unsupported.append(f"{job.key}: {e}")
                total -= len(job.masks) - done_here
                continue
            finally:
                del runner
            if not job.table:
                base = times[0]
                penalties = [max(0.0, times[m] - base) if m else 0.0 for m in job.masks[1:]]
                kernel.separable.all_fast_time_us = base
                kernel.separable.input_slow_penalty_us.extend(penalties[:ni])
                kernel.separable.output_slow_penalty_us.extend(penalties[ni:])
            profile.kernels.append(kernel)
            measured += 1
            save()
    unsupported.sort()
    return ProfileResult(profile, unsupported, measured, from_cache)


# --------------------------------------------------------------------------
# Driving a run against a server.


@dataclasses.dataclass
class RunResult:
    """What run_profiler did."""

    profile: Optional[profile_pb2.Profile]  # None when nothing was missing
    unsupported: list[str]
    work_items: int  # signatures to measure (missing on the server)
    measured_kernels: int = 0
    cached_kernels: int = 0
    accepted: int = 0  # measurements the server stored anew


def progress_printer(stream=None) -> Callable[[Progress], None]:
    """An on_progress that draws a bar with done/total, elapsed and ETA."""
    stream = stream if stream is not None else sys.stderr

    def show(p: Progress) -> None:
        width = 30
        frac = p.done_configs / p.total_configs if p.total_configs else 1.0
        filled = int(frac * width)
        eta = "--" if p.eta_s is None else f"{p.eta_s:.0f}s"
        current = p.current if len(p.current) <= 50 else p.current[:47] + "..."
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done_configs}/"
            f"{p.total_configs} configs  {p.elapsed_s:.0f}s elapsed  ETA {eta}  "
            f"{current:<50}"
        )
        stream.flush()

    return show


def _load_graph(graph) -> graph_pb2.Graph:
    if graph is None or isinstance(graph, graph_pb2.Graph):
        return graph
    return _json.load_graph(graph)


def run_profiler(
    client,
    host_class: str,
    graph=None,
    fast: TierLike = "numa:0",
    slow: Optional[TierLike] = None,
    *,
    out_path: Optional[str] = None,
    upload_batch: int = 64,
    quiet: bool = False,
    log=None,
    **options: Any,
) -> RunResult:
    """Profiles what ``host_class`` lacks and uploads it, like autotm-agent.

    Args:
      client: an autotm.Client, a "HOST:PORT" address, or None to profile
        ``graph`` locally (then give ``out_path``).
      host_class: the host class the measurements are stored under.
      graph: an autotm.v1.Graph or its JSON file. With a server: sent inline
        with GetWorkList (recorded as submitted) and only its missing
        signatures are measured; without ``graph`` the server's whole work
        list for the host class is.
      fast, slow: tiers or specs ("numa:0", "file:DIR").
      out_path: also write the measured profile here (Profile JSON).
      upload_batch: kernels per ImportProfile call.
      quiet: no progress bar.
      log: where messages and the progress bar go (default sys.stderr).
      **options: profile_work_list's keyword arguments (max_configs, timing,
        copy_bytes, cache_path, ...).

    Returns:
      RunResult.

    Raises:
      AutotmError: FAILED_PRECONDITION when the host class on the server has
        another fingerprint (never mixed); the server's, the tiers' and
        profile_work_list's errors.
    """
    log = log if log is not None else sys.stderr
    if slow is None:
        raise invalid_argument("give the slow tier (e.g. numa:1 or file:DIR)")
    if upload_batch < 1:
        raise invalid_argument(f"upload_batch must be >= 1, not {upload_batch}")
    graph = _load_graph(graph)
    if client is None and graph is None:
        raise invalid_argument("give a graph, or a server to take the work list from")
    fast, slow = make_tier(fast), make_tier(slow)
    fingerprint = host_fingerprint(fast, slow)
    log.write(f"host class {host_class}\nfingerprint: {fingerprint}\n")

    owned = None
    if isinstance(client, str):
        from autotm.client import Client  # noqa: PLC0415 - keeps torch-free imports light

        client = owned = Client(client)
    try:
        work: list[profile_pb2.WorkItem] = []
        if graph is not None:
            work = work_list_of(graph)
        if client is not None:
            local_count = len(work)
            work_list = client.get_work_list(host_class, graph)
            stored = work_list.host_class.fingerprint
            if stored and stored != fingerprint:
                raise AutotmError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f'host class "{host_class}" on the server was measured on "{stored}"; '
                    f'this host is "{fingerprint}". Profiles from different fingerprints '
                    "never mix: use another host class.",
                )
            work = list(work_list.items)
            if graph is None:
                log.write(
                    f"work list: {len(work)} signatures missing, from "
                    f"{work_list.graphs} submitted graph(s)\n"
                )
            else:
                log.write(
                    f"{len(work)} of the graph's {local_count} unique signatures are "
                    "missing on the server\n"
                )
            if not work:
                log.write(f'nothing to profile: host class "{host_class}" has every kernel\n')
                return RunResult(None, [], 0)
        on_progress = options.pop("on_progress", None)
        if on_progress is None and not quiet:
            on_progress = progress_printer(log)
        try:
            result = profile_work_list(
                work, fast, slow, host_class=host_class, on_progress=on_progress, **options
            )
        finally:
            if not quiet:
                log.write("\n")
        profile = result.profile
        b = profile.bandwidths
        log.write(
            f"copy GB/s: slow->fast sync {b.slow_to_fast_sync_gb_per_s:.2f} async "
            f"{b.slow_to_fast_async_gb_per_s:.2f}; fast->slow sync "
            f"{b.fast_to_slow_sync_gb_per_s:.2f} async "
            f"{b.fast_to_slow_async_gb_per_s:.2f}\n"
        )
        log.write(
            f"kernels: {result.measured_kernels} measured, {result.cached_kernels} "
            f"from cache, {len(result.unsupported)} not measurable\n"
        )
        run = RunResult(
            profile,
            list(result.unsupported),
            len(work),
            result.measured_kernels,
            result.cached_kernels,
        )
        if out_path:
            _json.save_message(profile, out_path)
            log.write(f"wrote {out_path}\n")
        if client is not None:
            kernels = list(profile.kernels)
            for begin in range(0, max(1, len(kernels)), upload_batch):
                batch = profile_pb2.Profile(
                    host_class=profile.host_class,
                    bandwidths=profile.bandwidths,
                    kernels=kernels[begin : begin + upload_batch],
                )
                try:
                    response = client.upload_profile(batch)
                except AutotmError as e:
                    raise AutotmError(
                        e.code,
                        f"upload of kernels [{begin}, {begin + len(batch.kernels)}) failed "
                        "(earlier batches are stored; re-running with the cache re-sends "
                        f"them harmlessly): {e.message}",
                    ) from None
                run.accepted += response.accepted
            log.write(f"uploaded as {host_class} ({run.accepted} measurements accepted)\n")
        return run
    finally:
        if owned is not None:
            owned.close()


# --------------------------------------------------------------------------
# The `profile` subcommand.

_DESCRIPTION = """\
Profiles the aten kernels of a captured training graph on two memory tiers.

For every unique kernel signature it runs the real PyTorch (aten) CPU op
with each operand allocated on the tier an IO configuration names - a full
table of the usable configurations when 2^k <= --max-configs (or when no
more than that many can run at all), else a separable all-fast +
one-slow-at-a-time model - and times it (warm-up, then repetitions until
the spread is small or a cap). It also measures tier-to-tier copy bandwidths
(synchronous: torch's threads; asynchronous: one thread). Placement is
verified (move_pages for NUMA nodes, /proc/self/maps + mincore for files):
a configuration whose buffers are not where it says is never measured.

Tiers:  numa:N     DRAM / memory-only NUMA node N (mbind + move_pages check)
        file:DIR   a file in DIR mapped MAP_SHARED: PMM App Direct when DIR
                   is on a DAX mount; otherwise labelled "file-backed
                   emulated tier" in the fingerprint (it proves the
                   mechanics, not the speed of real slow memory).
        (`autotm-agent tiers` shows what this host has.)

Outputs go to their tier through the op's out= overload (an in-place op
such as add_ is timed as add.out). A composite out= overload (convolution.out
in torch 1.13: the op, then a copy) is not used: such an op computes in fast
memory, so its outputs are measured fast and a slow one is a move after it.
Configurations that would split a tensor a kernel reads twice, or move a
pinned tensor, are never used and not measured. An op without one writes its outputs
where PyTorch's allocator puts them (checked to be the fast tier), so only
configurations with those outputs fast are measured, and such an op with
too many operands for a full table is reported as not measurable
(native_batch_norm has no CPU out= kernel in torch 1.13: its outputs are
always measured fast). An input the op writes in place (batch norm's
running statistics) keeps its new version on its own tier. The
fingerprint (CPU, torch version, threads, tiers) differs from autotm-agent's:
aten and oneDNN profiles never share a host class.
"""

_EPILOG = """\
Example (one-NUMA-node machine, no server):
  mkdir -p /tmp/slowtier
  python -m autotm.torch profile --graph g.graph.json --fast numa:0 \\
      --slow file:/tmp/slowtier --out g.profile.json --cache g.cache.json

With a server, only what the host class lacks is measured and uploaded:
  python -m autotm.torch profile --server localhost:50051 --host-class xeon-cxl-torch \\
      --graph resnet50.graph.json --slow numa:1 --cache resnet50.cache.json
  python -m autotm.torch profile --server localhost:50051 --host-class xeon-cxl-torch \\
      --slow numa:1      # everything graphs submitted for the host class lack

Interrupted? Run the same command again with the same --cache.

Exit status: 0 every signature measured (or nothing was missing); 3 the
profile was written/uploaded but lacks the signatures listed under NOT
MEASURED; 1 any other error (2: bad command-line arguments).
"""


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Adds the ``profile`` subcommand to ``subparsers`` (from
    ArgumentParser.add_subparsers()); its handler is ``args.func(args)``,
    returning the exit status (also set as ``args.handler``)."""
    p = subparsers.add_parser(
        "profile",
        help="measure a graph's aten kernels on two memory tiers and " "write/upload the profile",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--graph",
        help="graph file (v1.Graph JSON) to profile; with --server "
        "only the kernels the host class lacks are measured. Without --graph, "
        "--server gives the work list: every kernel graphs submitted for "
        "--host-class still lack",
    )
    p.add_argument(
        "--server", help="autotm-server HOST:PORT to take the work list from " "and upload to"
    )
    p.add_argument(
        "--host-class",
        default="local",
        help="host class the profile is stored under (default: %(default)s)",
    )
    p.add_argument(
        "--fast", default="numa:0", help="fast tier: numa:N or file:DIR (default: %(default)s)"
    )
    p.add_argument("--slow", required=True, help="slow tier: numa:N or file:DIR")
    p.add_argument("--out", help="write the profile here (v1.Profile JSON)")
    p.add_argument(
        "--cache",
        help="resume file: measured kernels are kept here and not "
        "measured again after an interruption",
    )
    p.add_argument(
        "--max-configs",
        type=int,
        default=256,
        help="full table when 2^k <= this (or when at most this many "
        "configurations can run at all), else separable (k+1 runs) "
        "(default: %(default)s)",
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed runs (default: %(default)s)")
    p.add_argument(
        "--min-reps",
        type=int,
        default=5,
        help="minimum timed runs per configuration (default: %(default)s)",
    )
    p.add_argument(
        "--max-reps",
        type=int,
        default=50,
        help="maximum timed runs per configuration (default: %(default)s)",
    )
    p.add_argument(
        "--max-spread",
        type=float,
        default=0.05,
        help="stop once (q75-q25)/median <= this (default: %(default)s)",
    )
    p.add_argument(
        "--max-time-ms",
        type=float,
        default=2000.0,
        help="stop timing a configuration after this much work " "(default: %(default)s)",
    )
    p.add_argument(
        "--copy-mib",
        type=float,
        default=64.0,
        help="copy-bandwidth probe size, MiB (default: %(default)s)",
    )
    p.add_argument(
        "--copy-threads",
        type=int,
        default=0,
        help="threads of the synchronous copy probe (0 = torch's threads)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch intra-op threads (0: torch's default); part of the "
        "fingerprint. On shared vCPUs 1 gives the steadiest timings",
    )
    p.add_argument(
        "--upload-batch",
        type=int,
        default=64,
        help="kernels per upload batch (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=profile_command, handler=profile_command)
    return p


def profile_command(args: argparse.Namespace) -> int:
    """Runs the ``profile`` subcommand; returns the exit status (0, 3, 1)."""
    err = sys.stderr
    if not args.out and not args.server:
        err.write("profile: give --out FILE and/or --server HOST:PORT\n")
        return 1
    if not args.graph and not args.server:
        err.write(
            "profile: give --graph FILE, or --server HOST:PORT to profile the "
            "server's work list for --host-class\n"
        )
        return 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        run = run_profiler(
            args.server,
            args.host_class,
            args.graph,
            args.fast,
            args.slow,
            out_path=args.out,
            upload_batch=args.upload_batch,
            quiet=args.quiet,
            max_configs=args.max_configs,
            warmup=args.warmup,
            min_reps=args.min_reps,
            max_reps=args.max_reps,
            max_spread=args.max_spread,
            max_time_ms=args.max_time_ms,
            copy_bytes=max(1, int(args.copy_mib * (1 << 20))),
            copy_threads=args.copy_threads,
            cache_path=args.cache,
        )
    except AutotmError as e:
        err.write(f"profile: {e}\n")
        return 1
    except KeyboardInterrupt:
        err.write("\nprofile: interrupted (rerun with the same --cache to resume)\n")
        return 1
    if run.unsupported:
        err.write(
            "NOT MEASURED (the profile lacks these signatures; plans for this graph "
            "will fail coverage until they are provided):\n"
        )
        for line in run.unsupported:
            err.write(f"  {line}\n")
        return 3
    return 0
