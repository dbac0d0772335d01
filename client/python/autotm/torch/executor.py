"""Runs a captured training iteration under an autotm plan, on CPU tiers.

``PlanExecutor(capture, plan, fast="numa:0", slow="file:/mnt/pmem0")`` runs
the capture's FX graph node by node, and around each kernel does what the
plan says:

- **Placement at creation.** A tensor the plan creates in the slow tier is
  written there: through the op's ``out=`` form into a buffer from the slow
  tier's allocator (``autotm._tiers``, the profiler agent's own: the same
  files or NUMA binding, placement checked the same way) when the op has a
  real ``out=`` kernel, else computed in fast memory and staged over (a
  *staging copy*, reported). Fast tensors come from PyTorch's CPU allocator,
  which must place them on the fast tier (a sample of them is checked page by
  page; on a machine where it would not, run under ``numactl --membind``).
- **Moves** at the kernels the plan names. ``TO_FAST`` before the kernel:
  synchronous moves block; asynchronous ones start on a copy thread and
  overlap the kernel (the kernel ends when they end: AutoTM's max(kernel,
  copies)). ``TO_SLOW`` after the kernel: free when a valid slow copy already
  exists (the plan says so with ``bytes_copied`` 0), a copy otherwise.
- **In-place writes** (the optimizer's ``add_``, batch norm's running
  statistics) run in place when the plan keeps the new version on the tier
  of the old one, and through the op's ``out=`` form onto the other tier when
  it does not.
- **Re-runs** (plans made with ``--recompute auto``; plan.proto's
  ``Recompute`` steps). After the kernel a step names (and that kernel's
  ``TO_SLOW`` moves) the tensor's storage is released in both tiers, and
  every FX value over it becomes a placeholder of its view (a *ghost*; a view
  taken of it meanwhile waits for the re-run). Right before the kernel it
  was re-made for (after that kernel's synchronous ``TO_FAST`` moves, before
  its overlapped copies start) the producer's aten op runs again on the
  inputs where the plan has them then -- live tensors in their tier, inputs
  kept in the slow tier past their life from that slow copy -- and its
  output lands in fast memory; the ghosts become views of it. An in-place
  producer (``relu_``) is re-run on a fast copy of the input version it
  read, and every argument the op writes besides (batch norm's running
  statistics) on a copy too, so a re-run never changes live state; it
  draws the random numbers its first run drew (the generator's state is
  saved before that run), so a dropout mask comes out the same. Steps
  that re-run one kernel for the same later kernel run it once and take
  every output they name (a multi-output producer); its other outputs are
  scratch.
- **Two-level re-runs** (steps with ``remade_inputs``: the producer's input
  died before the re-run, ReLU(BN(x)) made again from x). Before the step's
  producer runs again, each remade input's producer does, in the order the
  plan lists them (each reads tensors live there, kept slow, or an earlier
  entry's outputs), the same way as above (written arguments copied, the
  first run's generator state); all their outputs are *scratch*, fast
  memory the step's producer reads and that is freed right after it (the
  plan's ``scratch_bytes``, counted beside everything fast at that
  kernel). A chain of any length runs. Refused up front, naming the step
  (FAILED_PRECONDITION): an entry whose kernel does not make its tensor or
  runs after the re-run, one that nothing later in the chain reads, one
  that reads an entry listed after it, and any re-run (of either level)
  that reads a tensor neither live nor kept there nor made earlier in its
  chain.
- **Kept inputs** (``TensorPlacement.kept_slow_until_kernel``). A tensor a
  re-run reads after its life stays in the slow tier until that kernel. When
  an in-place write replaces it in its storage, its bytes are first copied
  to a slow buffer of their own -- the plan's ``TO_SLOW`` of it at that
  kernel, or its clean slow copy when one exists (free); a copy the plan
  does not price (the version was already slow) is a staging copy.
- **Release.** A tensor's memory goes when its last reader has run (or the
  last re-run that reads it).

It keeps its own account: the fast-tier bytes live at every kernel (per graph
tensor, as the plan counts them, and the bytes of fast storages actually
held), every move executed (kernel, tensor, bytes, direction), staging
copies, and the placement checks. ``Trainer`` wraps a model and optimizer so
that each ``step(inputs, targets)`` runs one iteration under the plan with
the model's parameters, buffers and optimizer state living on their tiers
between steps.

Limits: the captured step is replayed as captured -- scalars the step read
with ``.item()`` (Adam's bias corrections use the step count) and the
optimizer's hyperparameters are constants of the FX graph, so a plan for
Adam is valid for the captured step only; SGD (with momentum) repeats
exactly. The inputs must have the captured shapes. CPU tiers only (no CUDA
stream executor yet). A re-run of a kernel that writes one of the model's
own storages (its parameters, buffers, optimizer state or the batch) to
re-make that storage is refused before any work.
"""

from __future__ import annotations

import concurrent.futures
import math
import dataclasses
import operator
import random
import time
from typing import AbstractSet, Any, Optional, Sequence

import grpc
import torch
import torch.fx

from autotm import _tiers
from autotm._errors import AutotmError
from autotm._units import _PERSISTENT_ROLES
from autotm.v1 import graph_pb2, plan_pb2

from . import profiler as _profiler
from . import signature as sigmod
from .capture import _HIDDEN_WRITES, Capture

_FAST, _SLOW = graph_pb2.TIER_FAST, graph_pb2.TIER_SLOW
_NO_OUT_FORM = object()
_PAGE = 4096


def _precondition(message: str) -> AutotmError:
    return AutotmError(grpc.StatusCode.FAILED_PRECONDITION, message)


def _producer_named(graph, where: str, kernel_index: int, kernel_id: str, tensor_id: str):
    """The graph's kernel `kernel_index`, which a plan step names `kernel_id`
    and says makes `tensor_id`; FAILED_PRECONDITION, prefixed `where`, when
    it is not that kernel or does not make that tensor."""
    kernel = graph.kernels[kernel_index]
    if kernel.id != kernel_id or tensor_id not in kernel.outputs:
        raise _precondition(
            f"{where}: kernel {kernel_index} is '{kernel.id}', which does not "
            f"produce '{tensor_id}'"
        )
    return kernel


def base_of(tensor_id: str) -> str:
    """The storage a graph tensor (version ``x@n``) belongs to."""
    return tensor_id.split("@", 1)[0]


@dataclasses.dataclass
class ExecutedMove:
    kernel_index: int
    tensor_id: str
    direction: int  # plan_pb2.MoveDirection
    sync: bool
    bytes_copied: int
    seconds: float


@dataclasses.dataclass
class ExecutedRemadeInput:
    """A re-run that made a dead input of a re-run again, into scratch
    (plan.proto's RemadeInput)."""

    kernel_index: int  # its producer, run again
    tensor_id: str  # the input made again
    config: str  # as ExecutedRecompute.config
    seconds: float


@dataclasses.dataclass
class ExecutedRecompute:
    """One re-run of a producer (one or more plan Recompute steps)."""

    before_kernel_index: int
    kernel_index: int  # the producer that ran again
    tensor_ids: tuple[str, ...]  # the outputs re-made
    # Its inputs' tiers as it read them, then its outputs' (always fast), in
    # ConfigTiming.config form ("SF|F").
    config: str
    seconds: float
    # The re-runs that made its dead inputs again first, in the order they
    # ran (two-level and deeper re-runs; empty for one level).
    remade_inputs: tuple[ExecutedRemadeInput, ...] = ()
    # Bytes it held in fast memory only while it ran, as the plan counts
    # them (graph tensor sizes; Recompute.scratch_bytes): its producer's
    # other outputs and every output of the remade inputs' producers.
    scratch_bytes: int = 0


@dataclasses.dataclass
class IterationReport:
    """What one iteration under the plan did."""

    seconds: float
    loss: float
    # Per kernel: bytes of graph tensors live and in the fast tier while it
    # runs, counted as the plan counts them (each tensor version its size).
    fast_bytes: list[int]
    # Per kernel: bytes of fast storages the executor actually held (an
    # in-place write keeps one storage where the plan counts two versions).
    held_fast_bytes: list[int]
    moves: list[ExecutedMove]
    # (kernel index, tensor id, bytes, why): copies the plan does not price.
    staging_copies: list[tuple[int, str, int, str]]
    placement_checks: int
    # The re-runs in the order they ran, each with the re-runs of its
    # remade inputs (ExecutedRecompute.remade_inputs).
    recomputes: list[ExecutedRecompute] = dataclasses.field(default_factory=list)

    @property
    def peak_fast_bytes(self) -> int:
        """The most fast bytes, as the plan counts them (Plan.peak_fast_bytes):
        at a kernel, or at a re-run before it (everything fast at that kernel
        plus the re-run's scratch)."""
        reruns = (self.fast_bytes[r.before_kernel_index] + r.scratch_bytes for r in self.recomputes)
        return max(max(self.fast_bytes, default=0), max(reruns, default=0))

    @property
    def peak_held_fast_bytes(self) -> int:
        return max(self.held_fast_bytes, default=0)


@dataclasses.dataclass(frozen=True)
class _RemadeInput:
    """A plan RemadeInput as the executor runs it."""

    tensor_id: str
    kernel_index: int
    config: str


class _Store:
    """One storage of the step: where its bytes are now."""

    __slots__ = (
        "base_id",
        "flat",
        "tier",
        "buffer",
        "clean_slow",
        "nbytes",
        "released",
        "version",
    )

    def __init__(self, base_id: str, nbytes: int, version: Optional[str] = None):
        self.base_id = base_id
        self.nbytes = nbytes
        # The graph tensor (version) the storage holds now.
        self.version = version or base_id
        self.flat: Optional[torch.Tensor] = None  # 1-D over the whole storage
        self.tier = _FAST
        self.buffer = None  # the _tiers.Buffer behind a slow storage
        self.clean_slow: Optional[torch.Tensor] = None  # a valid slow copy
        # Dead in the step but owned by the caller (the batch after its last
        # reader): kept, not counted as held by the step.
        self.released = False


@dataclasses.dataclass
class _Snapshot:
    """A version kept in the slow tier past an in-place write of its
    storage, for the re-runs that read it."""

    flat: torch.Tensor
    buffer: Any
    bytes_copied: int
    seconds: float


class _Ghost:
    """Stands in an FX value for a view of a storage the plan has dropped
    until a re-run re-makes it: the view's shape, so the re-made storage
    can be viewed the same way (``_retarget`` takes it like a tensor)."""

    __slots__ = ("base_id", "dtype", "_size", "_stride", "_offset")

    def __init__(self, base_id: str, view: torch.Tensor):
        self.base_id, self.dtype = base_id, view.dtype
        self._size, self._stride = tuple(view.size()), tuple(view.stride())
        self._offset = view.storage_offset()

    def size(self):
        return self._size

    def stride(self):
        return self._stride

    def storage_offset(self):
        return self._offset


class _Deferred:
    """The value of a view node taken of a dropped tensor: evaluated once
    the re-run has re-made it (its arguments as they were when it ran)."""

    __slots__ = ("node", "args")

    def __init__(self, node: torch.fx.Node, args: Any):
        self.node, self.args = node, args


class _NotYet(Exception):
    """A deferred value still depends on a tensor that is not re-made."""


def _has_ghost(value: Any) -> bool:
    if isinstance(value, (_Ghost, _Deferred)):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_ghost(v) for v in value)
    if isinstance(value, dict):
        return any(_has_ghost(v) for v in value.values())
    return False


class _Accounting:
    """Fast bytes per kernel: per graph tensor version as the plan counts
    them, and per storage as the executor holds them."""

    def __init__(self, num_kernels: int):
        self.fast_bytes = [0] * num_kernels
        self.held_bytes = [0] * num_kernels
        self._tier: dict[str, int] = {}
        self._size: dict[str, int] = {}
        self._live_fast = 0
        self._transient = 0  # within the current kernel

    def create(self, tensor_id: str, size: int, tier: int) -> None:
        self._tier[tensor_id], self._size[tensor_id] = tier, size
        if tier == _FAST:
            self._live_fast += size

    def set_tier(self, tensor_id: str, tier: int) -> None:
        old = self._tier.get(tensor_id)
        if old is None or old == tier:
            return
        self._tier[tensor_id] = tier
        self._live_fast += self._size[tensor_id] if tier == _FAST else -self._size[tensor_id]

    def die(self, tensor_id: str) -> None:
        if self._tier.pop(tensor_id, None) == _FAST:
            self._live_fast -= self._size[tensor_id]

    def transient(self, held: int) -> None:
        """Fast bytes held for a moment inside the kernel (an output computed
        in fast memory before it is written to the slow tier)."""
        self._transient = max(self._transient, held)

    def record(self, k: int, held: int) -> None:
        self.fast_bytes[k] = self._live_fast
        self.held_bytes[k] = max(held, self._transient)
        self._transient = 0


def _fast_held(stores: dict) -> int:
    """Bytes of the fast storages held now (copies in flight included)."""
    return sum(
        store.nbytes
        for store in stores.values()
        if store.flat is not None and not store.released and store.tier == _FAST
    )


def _bytes_of(flats, skip: AbstractSet[int] = frozenset()) -> int:
    """Bytes of the distinct storages under ``flats`` (those whose data
    pointer is in ``skip`` left out)."""
    sizes = {}
    for flat in flats:
        ptr = flat.storage().data_ptr()
        if ptr not in skip:
            sizes[ptr] = flat.numel() * flat.element_size()
    return sum(sizes.values())


def _flat_of(t: torch.Tensor) -> torch.Tensor:
    """A 1-D tensor of t's dtype over all of t's storage."""
    storage = t.storage()
    return t.as_strided((storage.size(),), (1,), 0)


def _storage_ptrs(value: Any) -> set:
    """Data pointers of the storages the tensors in ``value`` view."""
    if isinstance(value, torch.Tensor):
        return {value.storage().data_ptr()}
    if isinstance(value, (tuple, list)):
        ptrs = set()
        for element in value:
            ptrs |= _storage_ptrs(element)
        return ptrs
    return set()


def _retarget(view: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``view`` (over some storage) as the same view over ``flat``'s."""
    source = flat if flat.dtype == view.dtype else flat.view(view.dtype)
    return source.as_strided(view.size(), view.stride(), view.storage_offset())


class PlanExecutor:
    """Executes ``capture``'s step under ``plan`` (see the module docstring).

    Raises AutotmError before any work: FAILED_PRECONDITION when the plan is
    for another graph (name, tensors or kernels differ) or another budget
    than ``budget_bytes``, or has a re-run this executor cannot run (the
    module docstring says which; the message names the step); the tier's
    error (e.g. INVALID_ARGUMENT naming the NUMA nodes that exist) when a
    tier cannot be made.
    """

    def __init__(
        self,
        capture: Capture,
        plan: plan_pb2.Plan,
        fast: str = "numa:0",
        slow: Optional[str] = None,
        *,
        budget_bytes: Optional[int] = None,
        check_placement_fraction: float = 0.05,
        seed: int = 0,
    ):
        self.capture = capture
        self.plan = plan
        graph = capture.graph
        self._check_plan(graph, plan, budget_bytes)
        if slow is None:
            raise AutotmError(
                grpc.StatusCode.INVALID_ARGUMENT, "give the slow tier (numa:N or file:DIR)"
            )
        self.fast_tier = _profiler.make_tier(fast)
        self.slow_tier = _profiler.make_tier(slow)
        self._check_fraction = check_placement_fraction
        self._random = random.Random(seed)
        self._copier = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="autotm-copy"
        )
        self._slow_pool: dict[int, list] = {}
        self._out_forms: dict[int, Any] = {}

        self.tensors = {t.id: t for t in graph.tensors}
        self.kernel_of_node = {
            node: k
            for k, node in enumerate(capture.kernel_nodes[kernel.id] for kernel in graph.kernels)
        }
        creation = {p.tensor_id: p.creation_tier for p in plan.tensors}
        self.creation_tier = creation
        num_kernels = len(graph.kernels)
        self.moves_at: list[list[plan_pb2.Move]] = [[] for _ in range(num_kernels)]
        for move in plan.moves:
            self.moves_at[move.kernel_index].append(move)
        # Lifetimes as the planner sees them (solver/graph_model.cc).
        producer, last_read = {}, {}
        for k, kernel in enumerate(graph.kernels):
            for i in kernel.inputs:
                last_read[i] = k
            for o in kernel.outputs:
                producer[o] = k
        self.first_live, self.last_live = {}, {}
        for t in graph.tensors:
            first = producer.get(t.id, 0)
            last = last_read.get(t.id, first)
            if (t.id in producer and t.role in _PERSISTENT_ROLES) or t.persistent:
                last = num_kernels - 1
            self.first_live[t.id], self.last_live[t.id] = first, last
        self.dies_after: list[list[str]] = [[] for _ in range(num_kernels)]
        for t in graph.tensors:
            self.dies_after[self.last_live[t.id]].append(t.id)
        # The version each storage is at, and the last version of each.
        self.final_version = {}
        for t in graph.tensors:
            self.final_version[base_of(t.id)] = t.id  # tensors are in order
        for kernel in graph.kernels:
            for o in kernel.outputs:
                self.final_version[base_of(o)] = o
        # Graph arguments (no kernel produces them) and their FX placeholders.
        produced = {o for kernel in graph.kernels for o in kernel.outputs}
        self._argument_ids = {t.id for t in graph.tensors if t.id not in produced}
        self._argument_of_node = {
            node: tensor_id
            for tensor_id, node in capture.tensor_nodes.items()
            if tensor_id in self._argument_ids
        }
        # The step's result (the loss): kept to the end.
        output = next(n for n in capture.fx_graph.nodes if n.op == "output")
        self._result_ids = set()
        for node in output.all_input_nodes:
            path = []
            while node.op == "call_function" and node.target is operator.getitem:
                path.insert(0, node.args[1])
                node = node.args[0]
            self._result_ids |= {
                base_of(tensor_id)
                for tensor_id, name in capture.tensor_nodes.items()
                if name == node.name
                and tuple(capture.tensor_outputs.get(tensor_id) or ()) == tuple(path)
            }
        # FX: the last node that uses each node's value.
        self._last_user: dict[torch.fx.Node, torch.fx.Node] = {}
        for node in capture.fx_graph.nodes:
            for inp in node.all_input_nodes:
                self._last_user[inp] = node
        self._plan_recomputes(capture, plan, produced)
        self._free_after: dict[torch.fx.Node, list[torch.fx.Node]] = {}
        for value_node, user in self._last_user.items():
            self._free_after.setdefault(user, []).append(value_node)

    def _plan_recomputes(self, capture: Capture, plan: plan_pb2.Plan, produced: set) -> None:
        """Indexes the plan's re-runs (drops per kernel, re-runs per kernel,
        kept inputs), checks each step against the graph, and keeps the FX
        values a re-run reads until it has run."""
        graph = capture.graph
        num_kernels = len(graph.kernels)
        node_named = {node.name: node for node in capture.fx_graph.nodes}
        self.kernel_node = [node_named[capture.kernel_nodes[k.id]] for k in graph.kernels]
        self.kept_until = {
            p.tensor_id: p.kept_slow_until_kernel for p in plan.tensors if p.kept_slow_until_kernel
        }
        self.drops_after: list[list[str]] = [[] for _ in range(num_kernels)]
        # before kernel -> {producer index: [tensor ids]}
        reruns: dict[int, dict[int, list[str]]] = {}
        # (before kernel, producer) -> (remade inputs' chain, the step that
        # gave it): the producers run again first, in this order.
        chains: dict[tuple[int, int], tuple[tuple[_RemadeInput, ...], int]] = {}
        for i, step in enumerate(plan.recomputes):
            where = f"plan recompute {i} ('{step.tensor_id}')"
            if not (
                step.kernel_index < num_kernels
                and step.before_kernel_index < num_kernels
                and step.dropped_after_kernel_index < step.before_kernel_index
            ):
                raise _precondition(
                    f"{where}: kernel indices {step.kernel_index}, "
                    f"{step.dropped_after_kernel_index}, {step.before_kernel_index} are "
                    f"out of order or outside the graph's {num_kernels} kernels"
                )
            producer = _producer_named(
                graph, where, step.kernel_index, step.kernel_id, step.tensor_id
            )
            if base_of(step.tensor_id) not in produced:
                raise _precondition(
                    f"{where}: re-making it would replace a storage of the model "
                    "(a parameter, buffer, optimizer state or the batch); this "
                    "executor re-makes only the step's own tensors"
                )
            chain = self._remade_chain(where, graph, step)
            key = (step.before_kernel_index, step.kernel_index)
            other = chains.setdefault(key, (chain, i))
            if other[0] != chain:
                raise _precondition(
                    f"{where}: it re-runs kernel {step.kernel_index} before kernel "
                    f"{step.before_kernel_index} with other remade inputs than plan "
                    f"recompute {other[1]}, which re-runs it there too (one run "
                    "makes both)"
                )
            self.drops_after[step.dropped_after_kernel_index].append(step.tensor_id)
            group = reruns.setdefault(step.before_kernel_index, {})
            group.setdefault(step.kernel_index, []).append(step.tensor_id)
        # Producers in graph order: a re-made input comes before its reader.
        self.reruns_before = {before: sorted(group.items()) for before, group in reruns.items()}
        self.remade_before = {key: chain for key, (chain, _) in chains.items()}
        self.recomputed_planned = {
            (before, producer, tuple(ids))
            for before, groups in self.reruns_before.items()
            for producer, ids in groups
        }
        self._check_rerun_inputs(graph, plan, chains)
        # Every kernel that runs again (a step's producer or a remade
        # input's) and what it reads: the FX values over a storage a re-run
        # reads become ghosts when it is released, so a re-run never reads
        # what a storage held last, and stay bound until the re-run.
        runs = [
            (before, rerun)
            for before, groups in self.reruns_before.items()
            for producer, _ in groups
            for rerun in [
                *(e.kernel_index for e in self.remade_before[(before, producer)]),
                producer,
            ]
        ]
        self._rerun_producers = {producer for _, producer in runs}
        self._rerun_input_bases = {
            base_of(i) for _, producer in runs for i in graph.kernels[producer].inputs
        }
        position = {node: i for i, node in enumerate(capture.fx_graph.nodes)}
        for before, producer in runs:
            user = self.kernel_node[before]
            for value_node in self.kernel_node[producer].all_input_nodes:
                last = self._last_user.get(value_node)
                if last is None or position[last] < position[user]:
                    self._last_user[value_node] = user

    @staticmethod
    def _remade_chain(where: str, graph: graph_pb2.Graph, step) -> tuple:
        """The step's ``remade_inputs`` as _RemadeInput, checked against the
        graph: each a kernel run before ``before_kernel_index`` that makes
        the tensor named, each read by a later entry or the step's producer,
        none reading a later entry's tensor (the chain is in the order it is
        re-run)."""
        chain = []
        for n, entry in enumerate(step.remade_inputs):
            what = f"{where}: remade input {n} ('{entry.tensor_id}')"
            if entry.kernel_index >= step.before_kernel_index:
                raise _precondition(
                    f"{what}: its producer, kernel {entry.kernel_index}, does not run "
                    f"before kernel {step.before_kernel_index}, where it would run again"
                )
            kernel = _producer_named(
                graph, what, entry.kernel_index, entry.kernel_id, entry.tensor_id
            )
            chain.append(_RemadeInput(entry.tensor_id, entry.kernel_index, entry.config))
        readers = [graph.kernels[e.kernel_index] for e in chain]
        readers.append(graph.kernels[step.kernel_index])
        for n, entry in enumerate(chain):
            if not any(entry.tensor_id in kernel.inputs for kernel in readers[n + 1 :]):
                raise _precondition(
                    f"{where}: remade input {n} ('{entry.tensor_id}') is read neither by "
                    "the producer re-run for the step nor by a later remade input's"
                )
            for later in chain[n + 1 :]:
                if later.tensor_id in graph.kernels[entry.kernel_index].inputs:
                    raise _precondition(
                        f"{where}: remade input {n} ('{entry.tensor_id}') reads "
                        f"'{later.tensor_id}', which the chain makes after it "
                        "(remade_inputs lists them in the order they are re-run)"
                    )
        return tuple(chain)

    def _check_rerun_inputs(self, graph: graph_pb2.Graph, plan: plan_pb2.Plan, chains) -> None:
        """Every input of every kernel run again must be there when it runs:
        live (and not dropped, unless a re-run before the same kernel makes
        it), kept slow until then, or an output of a remade input's producer
        that ran before it in the chain. FAILED_PRECONDITION naming the step
        and the input otherwise."""
        dropped = {}  # tensor -> [(dropped after, re-made before)]
        for step in plan.recomputes:
            dropped.setdefault(step.tensor_id, []).append(
                (step.dropped_after_kernel_index, step.before_kernel_index)
            )
        for (before, producer), (chain, i) in chains.items():
            where = f"plan recompute {i} ('{plan.recomputes[i].tensor_id}')"
            scratch: set = set()
            for n, run in enumerate([*(e.kernel_index for e in chain), producer]):
                for version in graph.kernels[run].inputs:
                    if version in scratch:
                        continue
                    live = self.first_live[version] <= before <= self.last_live[version]
                    kept = self.kept_until.get(version, 0) >= before
                    # Dropped there (one re-made for this very kernel is
                    # made by a re-run that runs first: graph order).
                    out = any(a < before < b for a, b in dropped.get(version, ()))
                    if (live and not out) or kept:
                        continue
                    whose = (
                        f"remade input {n}'s producer, kernel {run}"
                        if n < len(chain)
                        else f"its producer, kernel {run}"
                    )
                    raise _precondition(
                        f"{where}: {whose}, reads '{version}', which is neither live "
                        f"nor kept slow at kernel {before} where it runs again, nor "
                        "made by a remade input before it (this executor cannot run it)"
                    )
                scratch.update(graph.kernels[run].outputs)

    # --- checks ----------------------------------------------------------

    @staticmethod
    def _check_plan(
        graph: graph_pb2.Graph, plan: plan_pb2.Plan, budget_bytes: Optional[int]
    ) -> None:
        where = f"plan for graph '{plan.graph_name}'"
        if plan.graph_name != graph.name:
            raise _precondition(f"{where} does not match the captured graph '{graph.name}'")
        if [p.tensor_id for p in plan.tensors] != [t.id for t in graph.tensors]:
            raise _precondition(
                f"{where}: its tensors differ from the captured graph's "
                "(captured from another model, batch or optimizer?)"
            )
        if [c.kernel_id for c in plan.kernels] != [k.id for k in graph.kernels]:
            raise _precondition(
                f"{where}: its kernels differ from the captured graph's "
                "(captured from another model, batch or optimizer?)"
            )
        if budget_bytes is not None and plan.budget_bytes != budget_bytes:
            raise _precondition(
                f"{where} was made for a budget of {plan.budget_bytes} "
                f"bytes, not {budget_bytes}"
            )

    def _check_placement(self, store: _Store) -> int:
        if store.flat is None or self._random.random() >= self._check_fraction:
            return 0
        tier = self.slow_tier if store.tier == _SLOW else self.fast_tier
        nbytes = store.flat.numel() * store.flat.element_size()
        try:
            tier.verify(store.flat.data_ptr(), nbytes)
        except (_tiers.TierError, ValueError) as e:
            hint = (
                " (PyTorch's allocator placed it: run under numactl --membind " "to the fast node)"
                if store.tier == _FAST
                else ""
            )
            raise _precondition(
                f"tensor {store.base_id} is not on " f"{tier.spec}: {e}{hint}"
            ) from None
        return 1

    # --- storage moves ---------------------------------------------------

    def _slow_buffer(self, nbytes: int, dtype: torch.dtype):
        """A slow-tier buffer of ``nbytes`` as a flat ``dtype`` tensor.
        Freed buffers are kept for reuse (by page-rounded size), so steady
        iterations allocate (and verify) nothing: slow memory is the large
        tier, and this keeps file creation out of the timed step."""
        size = -(-nbytes // _PAGE) * _PAGE
        pool = self._slow_pool.get(size)
        buffer = pool.pop() if pool else self.slow_tier.allocate(size)
        flat = torch.frombuffer(buffer, dtype=dtype, count=nbytes // _itemsize(dtype))
        return buffer, flat

    def _release_slow(self, buffer) -> None:
        if buffer is not None:
            self._slow_pool.setdefault(len(buffer), []).append(buffer)

    def _rebind(self, old: torch.Tensor, new_flat: torch.Tensor) -> None:
        """Points every live value over ``old``'s storage at ``new_flat``."""
        old_ptr = old.storage().data_ptr()

        def swap(value):
            if isinstance(value, torch.Tensor):
                if value.storage().data_ptr() == old_ptr:
                    return _retarget(value, new_flat)
                return value
            if isinstance(value, (tuple, list)):
                return type(value)(swap(v) for v in value)
            return value

        for node in self._holders.pop(old_ptr, ()):
            if node in self.env:
                self._bind(node, swap(self.env[node]))
        for i, value in enumerate(self.placeholder_values):
            if self._placeholder_ptrs[i] & {old_ptr}:
                self.placeholder_values[i] = swap(value)
                self._placeholder_ptrs[i] = _storage_ptrs(self.placeholder_values[i])

    def _bind(self, node: torch.fx.Node, value: Any) -> None:
        """env[node] = value, remembering which storages the value views
        (so a move rebinds only the values over the moved storage)."""
        self.env[node] = value
        for ptr in _storage_ptrs(value):
            self._holders.setdefault(ptr, set()).add(node)

    def _to_slow(self, store: _Store, copy: bool) -> int:
        """Moves a fast store to the slow tier; returns the bytes copied."""
        old = store.flat
        if store.nbytes == 0:  # an empty tensor: nothing to place
            store.tier = _SLOW
            return 0
        if not copy and store.clean_slow is not None:
            new, buffer, copied = store.clean_slow, store.buffer, 0
        else:
            if store.clean_slow is not None:
                self._release_slow(store.buffer)  # about to be replaced
            buffer, new = self._slow_buffer(store.nbytes, old.dtype)
            new.copy_(old)
            copied = store.nbytes
        self._rebind(old, new)
        store.flat, store.buffer, store.tier, store.clean_slow = new, buffer, _SLOW, None
        return copied

    def _to_fast_start(self, store: _Store):
        """Copies a slow store into new fast memory (on any thread)."""
        fast = torch.empty_like(store.flat)
        fast.copy_(store.flat)
        return fast

    def _to_fast_finish(self, store: _Store, fast: torch.Tensor) -> None:
        if store.nbytes == 0:
            store.tier = _FAST
            return
        self._rebind(store.flat, fast)
        store.clean_slow = store.flat  # still valid until written
        store.flat, store.tier = fast, _FAST

    # --- one iteration ---------------------------------------------------

    def run(
        self, placeholder_values: Sequence[Any], slow_buffers: Optional[dict] = None
    ) -> tuple[Any, IterationReport]:
        """Runs the step with the FX placeholders bound to
        ``placeholder_values`` (in placeholder order; ``Trainer`` builds
        them). ``slow_buffers`` maps the data pointer of each value that
        lives in a slow-tier buffer to that buffer. Afterwards
        ``self.placeholder_values`` holds the values rebound to where their
        storages ended (the updated weights and optimizer state) and
        ``self.homes`` maps each graph argument to its final storage."""
        graph = self.capture.graph
        slow_buffers = dict(slow_buffers or {})
        self.env = {}
        self._holders: dict[int, set] = {}
        self.placeholder_values = list(placeholder_values)
        self._placeholder_ptrs = [_storage_ptrs(v) for v in self.placeholder_values]
        stores: dict[str, _Store] = {}
        num_kernels = len(graph.kernels)
        acct = _Accounting(num_kernels)
        moves: list[ExecutedMove] = []
        staging: list[tuple[int, str, int, str]] = []
        checks = 0
        self._snapshots: dict[str, _Snapshot] = {}  # kept versions
        self._ghosts: dict[str, list[torch.fx.Node]] = {}  # dropped base -> nodes
        self._deferred: list[torch.fx.Node] = []  # views waiting for a re-run
        self._remade: dict[str, torch.Tensor] = {}  # base -> re-made storage
        self._rng_states: dict[int, torch.Tensor] = {}  # producer -> before its run
        self._free_later: dict[int, list[str]] = {}  # kernel -> kept to free
        self._dropped_nbytes: dict[str, int] = {}
        recomputes: list[ExecutedRecompute] = []

        placeholders = [n for n in self.capture.fx_graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(placeholder_values):
            raise AutotmError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{len(placeholder_values)} values for " f"{len(placeholders)} placeholders",
            )
        start = time.perf_counter()
        # Graph arguments, on their creation tiers (a move here is a staging
        # copy: the plan expects them there from the previous iteration).
        for index, node in enumerate(placeholders):
            value = self.placeholder_values[index]
            self._bind(node, value)
            tensor_id = self._argument_of_node.get(node.name)
            if tensor_id is None or tensor_id in stores:
                continue
            store = _Store(tensor_id, 0)
            store.flat = _flat_of(value)
            store.nbytes = store.flat.numel() * store.flat.element_size()
            store.buffer = slow_buffers.get(store.flat.data_ptr())
            store.tier = _SLOW if store.buffer is not None else _FAST
            stores[tensor_id] = store
            wanted = self.creation_tier.get(tensor_id, _FAST)
            if wanted == _SLOW and store.tier == _FAST:
                staging.append(
                    (
                        0,
                        tensor_id,
                        self._to_slow(store, copy=True),
                        "graph argument placed for the plan",
                    )
                )
            elif wanted == _FAST and store.tier == _SLOW:
                self._to_fast_finish(store, self._to_fast_start(store))
                store.clean_slow = None
                staging.append((0, tensor_id, store.nbytes, "graph argument placed for the plan"))
            acct.create(tensor_id, self.tensors[tensor_id].size_bytes, store.tier)

        result = None
        for node in self.capture.fx_graph.nodes:
            if node.op == "placeholder":
                continue
            if node.op == "output":
                result = torch.fx.node.map_arg(node.args[0], lambda n: self.env[n])
                break
            k = self.kernel_of_node.get(node.name)
            if k is None:
                self._call_view(node)
                self._free(node)
                continue
            kernel = graph.kernels[k]
            # Before the kernel: TO_FAST (asynchronous ones overlap it).
            overlapped = []
            for move in self.moves_at[k]:
                if move.direction != plan_pb2.MOVE_DIRECTION_TO_FAST:
                    continue
                store = self._store_holding(stores, move)
                t0 = time.perf_counter()
                if move.sync:
                    self._to_fast_finish(store, self._to_fast_start(store))
                    moves.append(
                        ExecutedMove(
                            k,
                            move.tensor_id,
                            move.direction,
                            True,
                            store.nbytes,
                            time.perf_counter() - t0,
                        )
                    )
                else:
                    overlapped.append((move, store, t0))
                acct.set_tier(move.tensor_id, _FAST)
            for producer, tensor_ids in self.reruns_before.get(k, ()):
                recomputes.append(self._rerun(k, producer, tensor_ids, stores, acct))
            if _has_ghost(torch.fx.node.map_arg((node.args, node.kwargs), lambda n: self.env[n])):
                raise AutotmError(
                    grpc.StatusCode.INTERNAL,
                    f"kernel {k} ('{kernel.id}') reads a tensor the plan has dropped "
                    "and no re-run re-made",
                )
            # One job for the kernel's overlapped copies: they run on the copy
            # thread while the kernel runs here, and the kernel ends when
            # both are done (AutoTM's max(kernel, copies)).
            copies = (
                self._copier.submit(
                    lambda ss=[s for _, s, _ in overlapped]: [self._to_fast_start(s) for s in ss]
                )
                if overlapped
                else None
            )

            if k in self._rerun_producers:
                # A re-run draws the same random numbers (a dropout mask).
                self._rng_states[k] = torch.get_rng_state()
            self._bind(node, self._run_kernel(k, node, kernel, stores, acct, staging))
            if copies is not None:
                for (move, store, t0), fast in zip(overlapped, copies.result()):
                    self._to_fast_finish(store, fast)
                    moves.append(
                        ExecutedMove(
                            k,
                            move.tensor_id,
                            move.direction,
                            False,
                            store.nbytes,
                            time.perf_counter() - t0,
                        )
                    )
            acct.record(k, _fast_held(stores))

            # After the kernel: TO_SLOW, then what died.
            for move in self.moves_at[k]:
                if move.direction != plan_pb2.MOVE_DIRECTION_TO_SLOW:
                    continue
                snapshot = self._snapshots.get(move.tensor_id)
                store = stores.get(base_of(move.tensor_id))
                if snapshot is not None and (store is None or store.version != move.tensor_id):
                    # Kept past an in-place write: copied before the write.
                    copied, seconds = snapshot.bytes_copied, snapshot.seconds
                else:
                    store = self._store_holding(stores, move)
                    t0 = time.perf_counter()
                    copied = self._to_slow(store, copy=move.bytes_copied > 0)
                    seconds = time.perf_counter() - t0
                moves.append(
                    ExecutedMove(k, move.tensor_id, move.direction, move.sync, copied, seconds)
                )
                acct.set_tier(move.tensor_id, _SLOW)
            for tensor_id in self.drops_after[k]:
                self._drop_for_rerun(tensor_id, stores, acct)
            for tensor_id in self.dies_after[k]:
                acct.die(tensor_id)
                base = base_of(tensor_id)
                if self.final_version.get(base) != tensor_id or base not in stores:
                    continue
                if base in self._argument_ids or base in self._result_ids:
                    # The model's own tensors (weights, buffers, optimizer
                    # state, the batch) outlive the step wherever they are:
                    # never freed or reused here. One the plan leaves dead in
                    # fast memory stays held (IterationReport says so), but
                    # the batch is the caller's once the step has read it.
                    if self.tensors[base].role == graph_pb2.TENSOR_ROLE_INPUT:
                        stores[base].released = True
                    continue
                if self.kept_until.get(tensor_id, 0) > k:
                    # A re-run reads it later: it stays (slow) until then.
                    self._free_later.setdefault(self.kept_until[tensor_id], []).append(tensor_id)
                    continue
                store = stores.pop(base)
                self._drop(store)
            self._free_kept(k, stores)
            if checks < 64 and self._check_fraction > 0:
                for tensor_id in kernel.outputs:
                    store = stores.get(base_of(tensor_id))
                    if store is not None:
                        checks += self._check_placement(store)
            self._free(node)

        seconds = time.perf_counter() - start
        self.homes = {base: store for base, store in stores.items() if base in self._argument_ids}
        loss = float(result) if isinstance(result, torch.Tensor) else float("nan")
        report = IterationReport(
            seconds=seconds,
            loss=loss,
            fast_bytes=acct.fast_bytes,
            held_fast_bytes=acct.held_bytes,
            moves=moves,
            staging_copies=staging,
            placement_checks=checks,
            recomputes=recomputes,
        )
        self.env = {}
        return result, report

    # --- re-runs (plan.recomputes) ------------------------------------------

    def _store_holding(self, stores: dict, move: plan_pb2.Move) -> _Store:
        store = stores.get(base_of(move.tensor_id))
        if store is None or store.version != move.tensor_id or store.flat is None:
            raise AutotmError(
                grpc.StatusCode.INTERNAL,
                f"the plan moves '{move.tensor_id}' at kernel {move.kernel_index}, "
                "where its storage does not hold it",
            )
        return store

    def _snapshot(self, k: int, store: _Store, staging: list) -> None:
        """Keeps the version ``store`` holds in a slow buffer of its own
        before an in-place write replaces it (a re-run reads it later)."""
        t0 = time.perf_counter()
        if store.tier == _FAST and store.clean_slow is not None:
            flat, buffer, copied = store.clean_slow, store.buffer, 0
            store.clean_slow = store.buffer = None  # handed over
        else:
            buffer, flat = self._slow_buffer(store.nbytes, store.flat.dtype)
            flat.copy_(store.flat)
            copied = store.nbytes
            if store.tier == _SLOW:
                # Kept from the slow tier: free in the plan, a copy here.
                staging.append((k, store.version, copied, "kept past an in-place write"))
                copied = 0
        self._snapshots[store.version] = _Snapshot(flat, buffer, copied, time.perf_counter() - t0)

    def _free_kept(self, k: int, stores: dict) -> None:
        """Frees what was kept in the slow tier for re-runs up to ``k``."""
        for tensor_id in self._free_later.pop(k, ()):
            snapshot = self._snapshots.pop(tensor_id, None)
            if snapshot is not None:
                self._release_slow(snapshot.buffer)
                continue
            store = stores.get(base_of(tensor_id))
            if store is not None and store.version == tensor_id:
                self._drop(stores.pop(base_of(tensor_id)))
        for tensor_id in [t for t in self._snapshots if self.kept_until.get(t) == k]:
            self._release_slow(self._snapshots.pop(tensor_id).buffer)

    def _drop_for_rerun(self, tensor_id: str, stores: dict, acct: _Accounting) -> None:
        """Releases ``tensor_id``'s storage in both tiers; the FX values
        over it become ghosts until the re-run."""
        base = base_of(tensor_id)
        store = stores.get(base)
        if store is None or store.version != tensor_id or store.flat is None:
            raise AutotmError(
                grpc.StatusCode.INTERNAL,
                f"the plan drops '{tensor_id}', which is not held at that point",
            )
        self._dropped_nbytes[base] = store.nbytes
        self._remade.pop(base, None)
        del stores[base]
        self._ghost_holders(store)
        self._drop(store)
        acct.die(tensor_id)

    def _ghost_holders(self, store: _Store) -> None:
        """Replaces the FX values still over ``store``'s storage by ghosts,
        so that releasing it really frees its memory (and a re-run reads the
        version the plan names, not what the storage held last)."""
        if store.flat is None or store.nbytes == 0:
            return
        ptr, base = store.flat.storage().data_ptr(), store.base_id

        def ghost(value):
            if isinstance(value, torch.Tensor) and value.storage().data_ptr() == ptr:
                return _Ghost(base, value)
            if isinstance(value, (tuple, list)):
                return type(value)(ghost(v) for v in value)
            return value

        for node in self._holders.pop(ptr, ()):
            if node in self.env:
                self._bind_ghost(node, ghost(self.env[node]))

    def _bind_ghost(self, node: torch.fx.Node, value: Any) -> None:
        """env[node] = value, a value with ghosts in it."""
        self.env[node] = value
        leaves = [value]
        while leaves:
            leaf = leaves.pop()
            if isinstance(leaf, _Ghost):
                self._ghosts.setdefault(leaf.base_id, []).append(node)
            elif isinstance(leaf, (tuple, list)):
                leaves.extend(leaf)

    def _call_view(self, node: torch.fx.Node) -> None:
        """Runs a node that is no kernel (a view, an item of a tuple); one
        over a dropped tensor waits for the re-run."""
        args = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: self.env[n])
        if node.target is operator.getitem and not isinstance(args[0][0], _Deferred):
            value = args[0][0][args[0][1]]  # an item of a tuple with a ghost in it is fine
            if _has_ghost(value):
                self._bind_ghost(node, value)
            else:
                self._bind(node, value)
            return
        if _has_ghost(args):
            self.env[node] = _Deferred(node, args)
            self._deferred.append(node)
            return
        self._bind(node, self._call(node))

    def _materialize(self, value: Any) -> Any:
        """``value`` with its ghosts and deferred views made real over the
        re-made storages; _NotYet when one is not re-made."""
        if isinstance(value, _Ghost):
            flat = self._remade.get(value.base_id)
            if flat is None:
                raise _NotYet
            return _retarget(value, flat)
        if isinstance(value, _Deferred):
            args, kwargs = self._materialize(value.args)
            if value.node.target is operator.getitem:
                return args[0][args[1]]
            return value.node.target(*args, **kwargs)
        if isinstance(value, (tuple, list)):
            return type(value)(self._materialize(v) for v in value)
        if isinstance(value, dict):
            return {key: self._materialize(v) for key, v in value.items()}
        return value

    def _rerun_sources(self, producer: int, stores: dict, scratch: dict):
        """Where the producer's inputs are now: base -> (flat, tier).
        ``scratch`` (version -> flat) holds the outputs of the remade
        inputs' producers that ran before it, fast."""
        sources = {}
        for version in self.capture.graph.kernels[producer].inputs:
            if version in scratch:
                sources[base_of(version)] = (scratch[version], _FAST)
                continue
            snapshot = self._snapshots.get(version)
            if snapshot is not None:
                sources[base_of(version)] = (snapshot.flat, _SLOW)
                continue
            store = stores.get(base_of(version))
            if store is None or store.flat is None or store.version != version:
                raise AutotmError(
                    grpc.StatusCode.INTERNAL,
                    f"re-running kernel {producer} needs '{version}', which is "
                    "neither live nor kept at that point",
                )
            sources[base_of(version)] = (store.flat, store.tier)
        return sources

    def _written_arguments(self, node: torch.fx.Node) -> set:
        """Names of the arguments ``node``'s op writes (its schema's
        ``(a!)`` and the writes capture knows it hides)."""
        schema = node.target._schema
        names = {
            a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write
        }
        hidden = _HIDDEN_WRITES.get(schema.name)
        if hidden is not None:
            bound = dict(zip((a.name for a in schema.arguments), node.args))
            bound.update(node.kwargs)
            if hidden[1](bound):
                names |= set(hidden[0])
        return names

    def _run_again(self, producer: int, stores: dict, scratch: dict):
        """Runs kernel ``producer``'s aten op again on its inputs where they
        are now (live, kept, or in ``scratch``) and returns ``(outputs,
        config, seconds)``: outputs maps its output versions to flat
        tensors over the storages that hold them (those it returns or writes
        into an argument). What the op writes is a
        fast copy of the argument (a scratch input is the re-run's own, so
        it is written in place and leaves ``scratch``), so live state never
        changes; the generator state of its first run is restored around
        it, so it draws the same random numbers."""
        kernel = self.capture.graph.kernels[producer]
        node = self.kernel_node[producer]
        sources = self._rerun_sources(producer, stores, scratch)
        private = {base_of(v) for v in kernel.inputs if v in scratch}
        by_ptr = {
            store.flat.storage().data_ptr(): base
            for base, store in stores.items()
            if store.flat is not None
        }
        copies = {}  # base -> fast copy of a storage the op writes

        def source(value, written):
            if isinstance(value, (tuple, list)):
                return type(value)(source(v, written) for v in value)
            if isinstance(value, _Ghost):
                base = value.base_id
            elif isinstance(value, torch.Tensor):
                base = by_ptr.get(value.storage().data_ptr())
            else:
                return value
            if base not in sources:
                if isinstance(value, _Ghost):
                    raise AutotmError(
                        grpc.StatusCode.INTERNAL,
                        f"re-running kernel {producer} reads dropped '{base}'",
                    )
                return value  # a constant of the step
            flat = sources[base][0]
            if written:
                flat = copies.setdefault(base, flat if base in private else flat.clone())
            return _retarget(value, flat)

        written = self._written_arguments(node)
        names = [a.name for a in node.target._schema.arguments if not a.kwarg_only]
        args = [
            source(a, i < len(names) and names[i] in written)
            for i, a in enumerate(torch.fx.node.map_arg(node.args, lambda n: self.env[n]))
        ]
        kwargs = {
            name: source(a, name in written)
            for name, a in torch.fx.node.map_arg(node.kwargs, lambda n: self.env[n]).items()
        }
        for version in kernel.inputs:
            if base_of(version) in copies and version in scratch:
                del scratch[version]  # written in place: that version is gone
        rng_state = torch.get_rng_state()
        torch.set_rng_state(self._rng_states[producer])
        t0 = time.perf_counter()
        try:
            value = node.target(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - t0
            torch.set_rng_state(rng_state)
        outputs = {}
        for tensor_id in kernel.outputs:
            path = self.capture.tensor_outputs.get(tensor_id)
            if path is None:  # written into an argument it does not return
                if base_of(tensor_id) in copies:
                    outputs[tensor_id] = copies[base_of(tensor_id)]
                continue
            tensor = value
            for i in path:
                tensor = tensor[i]
            outputs[tensor_id] = _flat_of(tensor)
        config = "".join("S" if sources[base_of(i)][1] == _SLOW else "F" for i in kernel.inputs)
        config += "|" + "F" * len(kernel.outputs)
        return outputs, config, seconds

    def _size(self, tensor_id: str) -> int:
        return self.tensors[tensor_id].size_bytes

    def _rerun(
        self, before: int, producer: int, tensor_ids: list, stores: dict, acct: _Accounting
    ) -> ExecutedRecompute:
        """Runs kernel ``producer`` again right before kernel ``before``
        and puts the outputs ``tensor_ids`` in fast memory. The producers
        of its remade inputs run first, in the plan's order, into scratch
        (every output of theirs, fast), which is freed once it has run."""
        scratch: dict[str, torch.Tensor] = {}  # version -> flat, fast
        remade = []
        for entry in self.remade_before.get((before, producer), ()):
            outputs, config, seconds = self._run_again(entry.kernel_index, stores, scratch)
            scratch.update(outputs)
            # The chain's scratch is held in fast memory beside everything
            # fast at the kernel.
            acct.transient(_fast_held(stores) + _bytes_of(scratch.values()))
            remade.append(ExecutedRemadeInput(entry.kernel_index, entry.tensor_id, config, seconds))
        kernel = self.capture.graph.kernels[producer]
        outputs, config, seconds = self._run_again(producer, stores, scratch)
        for tensor_id in tensor_ids:
            flat = outputs.get(tensor_id)
            if flat is None:
                raise AutotmError(
                    grpc.StatusCode.INTERNAL,
                    f"re-running kernel {producer} left no storage holding '{tensor_id}'",
                )
            base = base_of(tensor_id)
            store = _Store(base, flat.numel() * flat.element_size(), tensor_id)
            store.flat = flat
            if store.nbytes != self._dropped_nbytes.get(base, store.nbytes):
                raise AutotmError(
                    grpc.StatusCode.INTERNAL,
                    f"re-running kernel {producer} made '{tensor_id}' "
                    f"{store.nbytes} bytes, not the {self._dropped_nbytes[base]} it held",
                )
            stores[base] = store
            acct.create(tensor_id, self.tensors[tensor_id].size_bytes, _FAST)
            self._resolve_ghosts(base, flat)
        # Everything fast now, the scratch still held and the producer's
        # other outputs (a storage once: a re-made output written in place
        # over a scratch input is counted with the stores).
        kept = {flat.storage().data_ptr() for t, flat in outputs.items() if t in tensor_ids}
        others = [f for t, f in outputs.items() if t not in tensor_ids]
        acct.transient(_fast_held(stores) + _bytes_of([*scratch.values(), *others], kept))
        scratch_bytes = sum(self._size(t) for t in kernel.outputs if t not in tensor_ids)
        for entry in self.remade_before.get((before, producer), ()):
            outputs_of = self.capture.graph.kernels[entry.kernel_index].outputs
            scratch_bytes += sum(self._size(t) for t in outputs_of)
        # The scratch goes here (the last references are this frame's).
        return ExecutedRecompute(
            before, producer, tuple(tensor_ids), config, seconds, tuple(remade), scratch_bytes
        )

    def _resolve_ghosts(self, base: str, flat: torch.Tensor) -> None:
        """The FX values over dropped ``base`` become views of its re-made
        storage, and the views that waited for it are taken."""

        def solid(value):
            if isinstance(value, _Ghost) and value.base_id == base:
                return _retarget(value, flat)
            if isinstance(value, (tuple, list)):
                return type(value)(solid(v) for v in value)
            return value

        for node in self._ghosts.pop(base, ()):
            if node in self.env:
                self._bind(node, solid(self.env[node]))
        self._remade[base] = flat
        waiting, self._deferred = self._deferred, []
        for node in waiting:
            value = self.env.get(node)
            if not isinstance(value, _Deferred):
                continue
            try:
                self._bind(node, self._materialize(value))
            except _NotYet:
                self._deferred.append(node)

    def _drop(self, store: _Store) -> None:
        if store.base_id in self._rerun_input_bases:
            # A re-run may read an earlier version of it from the FX values.
            self._ghost_holders(store)
        if store.tier == _SLOW or store.clean_slow is not None:
            self._release_slow(store.buffer)
        store.flat = store.buffer = store.clean_slow = None

    def _free(self, node: torch.fx.Node) -> None:
        for value_node in self._free_after.get(node, ()):
            if value_node.op != "placeholder":
                self.env.pop(value_node, None)

    def _call(self, node: torch.fx.Node) -> Any:
        args = torch.fx.node.map_arg(node.args, lambda n: self.env[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: self.env[n])
        if node.target is operator.getitem:
            return args[0][args[1]]
        return node.target(*args, **kwargs)

    def _run_kernel(self, k, node, kernel, stores, acct, staging):
        """Runs kernel ``k``'s node with its outputs where the plan creates
        them; returns the node's value."""
        for version in (o for o in kernel.outputs if "@" in o):
            # An in-place write. Onto the other tier: move first, then write
            # there (one copy, as an out-of-place write would make).
            store = stores[base_of(version)]
            wanted = self.creation_tier.get(version, store.tier)
            kept = store.version in self.kept_until
            if kept and store.tier == _FAST and wanted == _SLOW:
                self._snapshot(k, store, staging)  # from fast, as the plan writes it
            if wanted != store.tier:
                if wanted == _SLOW:
                    copied = self._to_slow(store, copy=True)
                else:
                    self._to_fast_finish(store, self._to_fast_start(store))
                    copied = store.nbytes
                staging.append((k, version, copied, "in-place write onto the other tier"))
            if kept and store.version not in self._snapshots:
                self._snapshot(k, store, staging)
            if store.clean_slow is not None:  # written: an old slow copy is stale
                self._release_slow(store.buffer)
                store.clean_slow = store.buffer = None
            store.version = version
        slow_out = {}  # output index -> slow buffer written through out=
        value = self._call_into_slow(k, node, kernel, slow_out)
        if value is _NO_OUT_FORM:
            value = self._call(node)
        for index, o in enumerate(kernel.outputs):
            if "@" in o:
                acct.create(o, self.tensors[o].size_bytes, stores[base_of(o)].tier)
                continue
            tensor = value
            for i in self.capture.tensor_outputs.get(o) or ():
                tensor = tensor[i]
            store = _Store(o, 0)
            store.flat = _flat_of(tensor)
            store.nbytes = store.flat.numel() * store.flat.element_size()
            stores[o] = store
            if index in slow_out:
                store.buffer, store.tier = slow_out[index], _SLOW
                acct.create(o, self.tensors[o].size_bytes, _SLOW)
                continue
            if self.creation_tier.get(o) == _SLOW:
                # Computed in fast memory, then written to the slow tier.
                acct.transient(_fast_held(stores))
                old = store.flat
                staging.append((k, o, self._to_slow(store, copy=True), "created in the slow tier"))
                value = self._swap_value(value, old, store.flat)
            acct.create(o, self.tensors[o].size_bytes, store.tier)
        return value

    def _call_into_slow(self, k, node, kernel, slow_out):
        """Runs kernel ``k`` through its op's ``out=`` form with the outputs
        the plan creates slow in slow-tier buffers, when the op has a real
        ``out=`` kernel (the profiler measured slow outputs only for those)
        and plain outputs; else returns _NO_OUT_FORM."""
        outputs = list(kernel.outputs)
        if not any(self.creation_tier.get(o) == _SLOW for o in outputs if "@" not in o):
            return _NO_OUT_FORM
        form = self._out_forms.get(k, False)
        if form is False:
            form = self._out_forms[k] = self._out_form(kernel)
        if form is None:
            return _NO_OUT_FORM
        target, names = form
        signature = kernel.signature
        outs = {}
        for index, (name, spec) in enumerate(zip(names, signature.outputs)):
            dtype = sigmod.torch_dtype(spec.dtype)
            if self.creation_tier.get(outputs[index]) == _SLOW:
                nbytes = max(1, math.prod(spec.dims)) * _itemsize(dtype)
                buffer, flat = self._slow_buffer(nbytes, dtype)
                outs[name] = flat[: math.prod(spec.dims)].view(list(spec.dims))
                slow_out[index] = buffer
            else:
                outs[name] = torch.empty(list(spec.dims), dtype=dtype)
        bound = dict(
            zip((a.name for a in node.target._schema.arguments if not a.kwarg_only), node.args)
        )
        bound.update(node.kwargs)
        bound = torch.fx.node.map_arg(bound, lambda n: self.env[n])
        positional, keyword = [], {}
        for arg in target._schema.arguments:
            if arg.is_out:
                keyword[arg.name] = outs[arg.name]
            elif arg.name in bound:
                if arg.kwarg_only:
                    keyword[arg.name] = bound[arg.name]
                else:
                    positional.append(bound[arg.name])
            elif not arg.kwarg_only:
                positional.append(arg.default_value)
        return target(*positional, **keyword)

    def _out_form(self, kernel):
        """(out= overload, its out argument names) for a kernel whose op has
        a real out= CPU kernel and whose outputs are plain new tensors."""
        signature = kernel.signature
        if any("@" in o for o in kernel.outputs) or "writes" in signature.attributes:
            return None
        if any(key.startswith("out") and key.endswith(".layout") for key in signature.attributes):
            return None
        try:
            call_plan = _profiler._plan_call(signature)
        except Exception:  # noqa: BLE001 - no out form for this op
            return None
        if call_plan.default_outputs or call_plan.tied:
            return None
        if call_plan.out_outputs != list(range(len(kernel.outputs))):
            return None
        names = [a.name for a in call_plan.target._schema.arguments if a.is_out]
        return call_plan.target, names

    @staticmethod
    def _swap_value(value, old, new_flat):
        ptr = old.storage().data_ptr()
        if isinstance(value, torch.Tensor):
            return _retarget(value, new_flat) if value.storage().data_ptr() == ptr else value
        if isinstance(value, (tuple, list)):
            return type(value)(PlanExecutor._swap_value(v, old, new_flat) for v in value)
        return value

    def close(self) -> None:
        self._copier.shutdown(wait=True)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


class Trainer:
    """Training steps of ``model`` and ``optimizer`` under ``plan``.

    ``capture`` must come from ``capture(model, ..., optimizer)`` with the
    same model and optimizer (their parameters, buffers and optimizer state
    are the graph's arguments). Between steps the parameters, buffers and
    optimizer state stay where the last step left them (the model's tensors
    are rebound to tier memory through ``.data``), so the model can be
    evaluated, saved or inspected with the ordinary PyTorch API.

        trainer = Trainer(model, optimizer, capture, plan, slow="file:/mnt/pmem0")
        for x, y in batches:
            loss, report = trainer.step(x, y)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        capture: Capture,
        plan: plan_pb2.Plan,
        fast: str = "numa:0",
        slow: Optional[str] = None,
        *,
        budget_bytes: Optional[int] = None,
        check_placement_fraction: float = 0.05,
    ):
        self.model, self.optimizer, self.capture = model, optimizer, capture
        self.executor = PlanExecutor(
            capture,
            plan,
            fast,
            slow,
            budget_bytes=budget_bytes,
            check_placement_fraction=check_placement_fraction,
        )
        self._params = dict(model.named_parameters())
        self._buffers = dict(model.named_buffers())
        self._slow_buffers: dict[int, Any] = {}
        missing = []
        for what in capture.placeholders.values():
            if what[0] == "param" and what[1] not in self._params:
                missing.append(f"parameter {what[1]}")
            elif what[0] == "buffer" and what[1] not in self._buffers:
                missing.append(f"buffer {what[1]}")
            elif what[0] == "state":
                p = self._params.get(what[1])
                if p is None:
                    missing.append(f"parameter {what[1]}")
                elif what[2] not in optimizer.state.get(p, {}):
                    # State not created yet: start from the zeros PyTorch's
                    # first step starts from (momentum, moments, step count).
                    optimizer.state[p][what[2]] = (
                        torch.zeros((), dtype=torch.float32)
                        if what[2] == "step"
                        else torch.zeros_like(p, memory_format=torch.preserve_format)
                    )
        if missing:
            raise _precondition(
                "the capture's graph has tensors this model lacks: " + ", ".join(missing[:5])
            )

    def _values(self, inputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]):
        values = []
        for name, what in self.capture.placeholders.items():
            kind = what[0]
            if kind == "param":
                values.append(self._params[what[1]].data)
            elif kind == "buffer":
                values.append(self._buffers[what[1]])
            elif kind == "state":
                values.append(self.optimizer.state[self._params[what[1]]][what[2]])
            elif kind in ("input", "target"):
                source = inputs if kind == "input" else targets
                if what[1] >= len(source):
                    raise AutotmError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"the captured step takes {kind} {what[1]}; " f"{len(source)} given",
                    )
                values.append(source[what[1]])
            else:
                values.append(self.capture.constants[name])
        return values

    def step(self, inputs, targets=()) -> tuple[float, IterationReport]:
        """One training step on ``inputs``/``targets`` (the captured shapes
        and dtypes); returns the loss and the executor's report."""
        inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
        targets = (targets,) if isinstance(targets, torch.Tensor) else tuple(targets)
        values = self._values(inputs, targets)
        with torch.no_grad():
            result, report = self.executor.run(values, self._slow_buffers)
        # Rebind the model's tensors to where their storages ended.
        final = self.executor.placeholder_values
        for (name, what), before, after in zip(self.capture.placeholders.items(), values, final):
            if after is before or not isinstance(after, torch.Tensor):
                continue
            if what[0] == "param":
                self._params[what[1]].data = after
            elif what[0] == "buffer":
                module_name, _, buffer_name = what[1].rpartition(".")
                module = self.model.get_submodule(module_name) if module_name else self.model
                module._buffers[buffer_name] = after
                self._buffers[what[1]] = after
            elif what[0] == "state":
                self.optimizer.state[self._params[what[1]]][what[2]] = after
        self._slow_buffers = {
            store.flat.data_ptr(): store.buffer
            for store in self.executor.homes.values()
            if store.tier == _SLOW and store.flat is not None
        }
        return report.loss, report

    def close(self) -> None:
        self.executor.close()
