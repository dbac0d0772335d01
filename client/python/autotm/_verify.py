"""Checks a served plan against the graph the client sent (issue 17).

The Python client has no profile when it asks for a plan, so it checks what
needs none (as the C++ client's solver::VerifyPlanStructure does): one
placement per tensor and one choice per kernel, in graph order; fixed
tensors only in their tier; moves on known tensors and kernels, in kernel
order; fast intervals ordered and inside the graph; fast bytes at every
kernel (from the intervals) within the budget and equal to the plan's
figures; every kernel's configuration matching where its operands are; pool
offsets aligned, inside the budget and never overlapping at any kernel.
Kernel and move times are the profile's business and are not checked here.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import grpc

from autotm._errors import AutotmError
from autotm.v1 import graph_pb2, plan_pb2


def _fail(problem: str) -> AutotmError:
    return AutotmError(
        grpc.StatusCode.INTERNAL,
        f'the server returned a plan that fails verification against the graph sent: {problem}',
    )


def _align_up(size: int, alignment: int) -> int:
    return (size + alignment - 1) // alignment * alignment


def verify_plan_structure(graph: graph_pb2.Graph, plan: plan_pb2.Plan, budget_bytes: int) -> None:
    """Raises AutotmError(INTERNAL) naming the first broken invariant."""
    num_kernels = len(graph.kernels)
    if len(plan.tensors) != len(graph.tensors):
        raise _fail(
            f'plan has {len(plan.tensors)} tensor placements for {len(graph.tensors)} tensors'
        )
    if len(plan.kernels) != num_kernels:
        raise _fail(f'plan has {len(plan.kernels)} kernel choices for {num_kernels} kernels')
    size: Dict[str, int] = {}
    index: Dict[str, int] = {}
    for t, (tensor, placement) in enumerate(zip(graph.tensors, plan.tensors)):
        if placement.tensor_id != tensor.id:
            raise _fail(
                f'tensor placement #{t} is for tensor {placement.tensor_id!r}, '
                f'expected {tensor.id!r}'
            )
        if placement.creation_tier not in (graph_pb2.TIER_FAST, graph_pb2.TIER_SLOW):
            raise _fail(f'tensor {tensor.id!r}: creation tier must be FAST or SLOW')
        size[tensor.id] = tensor.size_bytes
        index[tensor.id] = t
    kernel_ids = [k.id for k in graph.kernels]
    for k, (kernel, choice) in enumerate(zip(graph.kernels, plan.kernels)):
        if choice.kernel_id != kernel.id:
            raise _fail(
                f'kernel choice #{k} is for kernel {choice.kernel_id!r}, expected {kernel.id!r}'
            )

    previous = 0
    for m, move in enumerate(plan.moves):
        if move.tensor_id not in size:
            raise _fail(f'move #{m}: unknown tensor {move.tensor_id!r}')
        if move.kernel_index >= num_kernels or kernel_ids[move.kernel_index] != move.kernel_id:
            raise _fail(
                f'move #{m}: kernel #{move.kernel_index} {move.kernel_id!r} is not in the graph'
            )
        if move.kernel_index < previous:
            raise _fail(f'move #{m}: moves must be ordered by kernel index')
        previous = move.kernel_index
        tensor = graph.tensors[index[move.tensor_id]]
        if tensor.fixed_tier != graph_pb2.TIER_UNSPECIFIED:
            raise _fail(f'move #{m}: tensor {tensor.id!r} is fixed to one tier but moved')

    alignment = plan.alignment_bytes
    if alignment == 0:
        raise _fail('plan has no fast-pool offsets (alignment_bytes is 0)')
    # Fast tensors and their pool blocks at every kernel.
    fast_at: List[List[Tuple[int, int, str]]] = [[] for _ in range(num_kernels)]
    used = 0
    for tensor, placement in zip(graph.tensors, plan.tensors):
        fixed = tensor.fixed_tier
        last = -1
        block = _align_up(tensor.size_bytes, alignment)
        for interval in placement.fast_intervals:
            first, end = interval.first_kernel, interval.last_kernel
            if first > end or end >= num_kernels or first <= last:
                raise _fail(
                    f'tensor {tensor.id!r}: fast interval [{first}, {end}] is not ordered '
                    f'inside the graph'
                )
            if fixed == graph_pb2.TIER_SLOW:
                raise _fail(f'tensor {tensor.id!r} is fixed to the slow tier but fast')
            last = end
            offset = interval.offset_bytes
            if offset % alignment:
                raise _fail(
                    f'tensor {tensor.id!r}: offset {offset} is not a multiple of the '
                    f'alignment {alignment}'
                )
            if offset > budget_bytes or block > budget_bytes - offset:
                raise _fail(
                    f'tensor {tensor.id!r}: block [{offset}, {offset + block}) ends past '
                    f'the budget of {budget_bytes} bytes'
                )
            used = max(used, offset + block)
            for k in range(first, end + 1):
                fast_at[k].append((offset, offset + block, tensor.id))
    if plan.pool_bytes_used != used:
        raise _fail(f'plan pool_bytes_used is {plan.pool_bytes_used}, the offsets give {used}')

    peak = 0
    for k, (kernel, choice) in enumerate(zip(graph.kernels, plan.kernels)):
        blocks = sorted(fast_at[k])
        for a, b in zip(blocks, blocks[1:]):
            if b[0] < a[1]:
                raise _fail(
                    f'kernel #{k} {kernel.id!r}: tensor {a[2]!r} at [{a[0]}, {a[1]}) overlaps '
                    f'tensor {b[2]!r} at [{b[0]}, {b[1]}) in the fast pool'
                )
        fast_ids = {tensor_id for _, _, tensor_id in blocks}
        fast_bytes = sum(size[tensor_id] for tensor_id in fast_ids)
        if fast_bytes > budget_bytes:
            raise _fail(
                f'kernel #{k} {kernel.id!r}: fast memory {fast_bytes} bytes exceeds budget '
                f'{budget_bytes} bytes'
            )
        if choice.fast_bytes != fast_bytes:
            raise _fail(
                f'kernel #{k} {kernel.id!r}: plan fast_bytes {choice.fast_bytes} but the '
                f'tensors fast while it runs total {fast_bytes} bytes'
            )
        peak = max(peak, fast_bytes)
        expected = ''.join('F' if t in fast_ids else 'S' for t in kernel.inputs)
        expected += '|' + ''.join('F' if t in fast_ids else 'S' for t in kernel.outputs)
        if choice.config != expected:
            raise _fail(
                f'kernel #{k} {kernel.id!r}: plan config {choice.config} does not match the '
                f'operand tiers, which give {expected}'
            )
    if plan.peak_fast_bytes != peak:
        raise _fail(
            f'plan peak_fast_bytes {plan.peak_fast_bytes} but the largest fast occupancy is {peak}'
        )
