"""One training iteration of a PyTorch model as an autotm graph.

``capture(model, example_inputs, loss_fn, optimizer)`` runs one real
training step -- forward, loss, backward, optimizer step -- on deep copies of
the model and the optimizer, under a ``TorchDispatchMode`` that sees every
aten op the step runs (autograd's backward ops and the optimizer's update
included), with the real tensors. Each op call that computes something
becomes one kernel of an ``autotm.v1.Graph``, in execution order:

- **Tensors are storages.** A graph tensor is a storage, sized by its bytes.
  A view (``t``, ``view``, ``expand``, ``detach``, a slice...) is not a new
  tensor and not a kernel: the kernel that reads it reads its base, and its
  signature records the view's strides (see ``signature.py``).
- **In-place writes are new versions.** The planner's graph is in SSA form
  (one producer per tensor), so an op that writes an existing storage
  (``add_``, ``addcmul_``, the running statistics ``native_batch_norm``
  updates) reads the current version and produces the next one,
  ``<id>@<n>``. A weight's or optimizer state's last version is what the next
  iteration starts from; the planner keeps it live to the end (intermediate
  versions, like momentum between its ``mul_`` and ``add_``, are
  activations: they die after their last reader).
- **Roles**: parameters and buffers ``WEIGHT``, optimizer state
  ``OPTIMIZER_STATE``, example inputs and targets ``INPUT`` pinned to the
  fast tier (AutoTM keeps the batch in DRAM), tensors produced by the
  backward pass ``GRADIENT``, the rest ``ACTIVATION``; tensors from outside
  the step that are none of these (a module's plain tensor attribute, a
  Python scalar wrapped as a tensor) ``CONSTANT``.
- **Steady state.** When the optimizer has no state yet (momentum buffers,
  Adam's moments), one uncaptured warm-up step on the copies creates it, so
  the captured step is the one every later iteration repeats. The caller's
  model and optimizer are never touched.

It also builds a ``torch.fx.Graph`` of the same step -- one node per aten
call, views included, scalars read with ``.item()`` baked in as constants --
and maps every graph tensor (version) and kernel to its FX node, for an
executor that runs the iteration under a plan.

An op that cannot be described (a non-aten op, a dtype autotm has no name
for, a symbolic size) is a ``CaptureError`` naming the op and the module it
ran in; nothing is silently dropped.
"""

from __future__ import annotations

import copy
import itertools
import operator
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.fx
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from autotm._units import _PERSISTENT_ROLES
from autotm.v1 import graph_pb2

from . import signature as sig

# Namespaces of dispatcher ops that do no tensor work (profiler ranges).
_BOOKKEEPING_NAMESPACES = {"profiler"}

# Ops whose result is a view of an input although their schema does not say
# so (autograd reasons).
_UNANNOTATED_VIEWS = {"aten::_unsafe_view"}

# Ops that write inputs their schema does not mark as written (and that they
# do not return): op name -> (argument names, condition on the bound args).
_HIDDEN_WRITES: dict[str, tuple[tuple[str, ...], Callable[[dict], bool]]] = {
    "aten::native_batch_norm": (
        ("running_mean", "running_var"),
        lambda bound: bool(bound.get("training")),
    ),
    "aten::_native_batch_norm_legit": (
        ("running_mean", "running_var"),
        lambda bound: bool(bound.get("training")),
    ),
}


class CaptureError(RuntimeError):
    """The step cannot be captured; the message names the op and module."""


@dataclass
class Capture:
    """The result of ``capture``.

    Attributes:
      graph: the training iteration as an ``autotm.v1.Graph``.
      fx_graph: the same step as a ``torch.fx.Graph`` (placeholders named as
        in ``placeholders``; returns the loss).
      tensor_nodes: graph tensor id -> name of the FX node whose value holds
        that tensor (version): a placeholder or the producing kernel's node.
        For a kernel with several outputs the node's value is a tuple; see
        ``tensor_outputs``.
      tensor_outputs: graph tensor id -> index path into its node's value
        (``()`` when the value is the tensor itself; None for a placeholder
        or for a version written in place into an input it does not return,
        whose storage is the input's).
      kernel_nodes: kernel id -> FX node name.
      placeholders: FX placeholder name -> what it stands for: ("param",
        name), ("buffer", name), ("state", param name, key), ("input", i),
        ("target", i), ("constant", None).
      constants: values of the "constant" placeholders.
      saved_tensor_ids: graph tensors autograd saved for the backward pass
        (from saved-tensor hooks), for checks against PyTorch's accounting.
      loss: the captured step's loss.
      seconds: wall time of the capture (warm-up step excluded).
      phases: "forward", "backward", "optimizer" -> [first, end) kernel
        index range of each.
    """

    graph: graph_pb2.Graph
    fx_graph: torch.fx.Graph
    tensor_nodes: dict[str, str]
    tensor_outputs: dict[str, tuple | None]
    kernel_nodes: dict[str, str]
    placeholders: dict[str, tuple]
    constants: dict[str, torch.Tensor]
    saved_tensor_ids: set[str]
    loss: float
    seconds: float
    phases: dict[str, tuple[int, int]] = field(default_factory=dict)

    def summary(self) -> str:
        g = self.graph
        roles = {}
        for t in g.tensors:
            roles[t.role] = roles.get(t.role, 0) + 1
        names = {
            graph_pb2.TENSOR_ROLE_ACTIVATION: "activations",
            graph_pb2.TENSOR_ROLE_GRADIENT: "gradients",
            graph_pb2.TENSOR_ROLE_WEIGHT: "weights",
            graph_pb2.TENSOR_ROLE_OPTIMIZER_STATE: "optimizer state",
            graph_pb2.TENSOR_ROLE_INPUT: "inputs",
            graph_pb2.TENSOR_ROLE_CONSTANT: "constants",
        }
        role_text = ", ".join(f"{n} {names.get(r, r)}" for r, n in sorted(roles.items()))
        unique = len({k.signature.SerializeToString(deterministic=True) for k in g.kernels})
        total = sum(t.size_bytes for t in g.tensors)
        return (
            f"{g.name}: {len(g.kernels)} kernels ({unique} unique signatures), "
            f"{len(g.tensors)} tensors ({role_text}), {total / 2**20:.1f} MiB in all; "
            f"captured in {self.seconds:.2f} s"
        )


def _storage_key(t: torch.Tensor) -> tuple:
    storage = t.storage()
    if storage.size() == 0:
        # Empty storages all sit at address 0: each is its own tensor.
        return ("empty", id(t))
    return ("ptr", storage.data_ptr())


def _storage_bytes(t: torch.Tensor) -> int:
    storage = t.storage()
    return storage.size() * storage.element_size()


class _Tensor:
    """One storage of the step and its current version in the graph."""

    def __init__(self, base_id: str, role: int, nbytes: int, fixed_tier: int = 0):
        self.base_id = base_id
        self.version = 0
        self.role = role
        self.nbytes = nbytes
        self.fixed_tier = fixed_tier
        # Weak references to the Python tensors known over this storage. A
        # storage whose tensors are all gone is free, and its address may
        # come back for an unrelated tensor.
        self.objects: list[weakref.ref] = []

    @property
    def id(self) -> str:
        return self.base_id if self.version == 0 else f"{self.base_id}@{self.version}"

    def alive(self) -> bool:
        self.objects = [r for r in self.objects if r() is not None]
        return bool(self.objects)


class _Recorder(TorchDispatchMode):
    """Hands every dispatched call, with its real result, to the builder."""

    def __init__(self, builder: "_Builder"):
        super().__init__()
        self.builder = builder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if (
            isinstance(result, (bool, int, float))
            and len(func._schema.returns) == 1
            and str(func._schema.returns[0].type) == "Tensor"
        ):
            # An op on a Python number wrapped as a 0-dim tensor (e.g. the
            # ``/ math.sqrt(d)`` of attention): Python hands back the number;
            # autograd wants a tensor. No work and no memory: not recorded.
            source = next((a for a in args if isinstance(a, torch.Tensor)), None)
            dtype = source.dtype if source is not None else None
            return torch.tensor(result, dtype=dtype)
        self.builder.record(func, args, kwargs, result)
        return result


def _tensor_paths(value, path=()):
    """(index path, tensor) for every tensor in a nested tuple/list result."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, element in enumerate(value):
            yield from _tensor_paths(element, path + (i,))


def _return_aliases(func: torch._ops.OpOverload, count: int) -> list:
    """The alias annotation of each of ``count`` flattened results."""
    returns = func._schema.returns
    if len(returns) == count:
        return [r.alias_info for r in returns]
    if len(returns) == 1:  # a Tensor[] return
        return [returns[0].alias_info] * count
    return [None] * count


class _Builder:
    """Builds the graph and the FX graph from the recorded calls.

    Holds no strong reference to any tensor of the step (that would change
    what the step does: autograd steals a gradient buffer only when nobody
    else holds it) -- tensors are tracked by storage address and weak
    references.
    """

    def __init__(self, name: str):
        self.graph = graph_pb2.Graph(name=name)
        self.fx = torch.fx.Graph()
        self.by_storage: dict[tuple, _Tensor] = {}
        # id(tensor) -> (weak ref, FX node); the ref tells a live entry from
        # a reused id.
        self.objects: dict[int, tuple[weakref.ref, torch.fx.Node]] = {}
        self.tensor_nodes: dict[str, str] = {}
        self.tensor_outputs: dict[str, tuple | None] = {}
        self.kernel_nodes: dict[str, str] = {}
        self.placeholders: dict[str, tuple] = {}
        self.constants: dict[str, torch.Tensor] = {}
        self.arguments: list[_Tensor] = []
        self.used: set[str] = set()  # tensor ids some kernel reads
        self.saved: set[str] = set()
        self.phase = "forward"
        self.phase_start: dict[str, int] = {"forward": 0}
        self.module_path: list[str] = []
        self._constant_count = itertools.count()
        self._tensor_ids: set[str] = set()

    # --- tensors -------------------------------------------------------------

    def _unique(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self._tensor_ids:
            n += 1
            candidate = f"{base}~{n}"
        self._tensor_ids.add(candidate)
        return candidate

    def _bind(self, tensor: torch.Tensor, node: torch.fx.Node, entry: _Tensor) -> None:
        ref = weakref.ref(tensor)
        self.objects[id(tensor)] = (ref, node)
        entry.objects.append(ref)

    def _known_node(self, tensor: torch.Tensor) -> torch.fx.Node | None:
        known = self.objects.get(id(tensor))
        if known is not None and known[0]() is tensor:
            return known[1]
        return None

    def _new_entry(
        self, tensor: torch.Tensor, base_id: str, role: int, fixed_tier: int = 0
    ) -> _Tensor:
        entry = _Tensor(self._unique(base_id), role, max(1, _storage_bytes(tensor)), fixed_tier)
        self.by_storage[_storage_key(tensor)] = entry
        return entry

    def add_argument(
        self, tensor: torch.Tensor, base_id: str, role: int, what: tuple, fixed_tier: int = 0
    ) -> None:
        """A tensor the step starts from (parameter, state, input)."""
        key = _storage_key(tensor)
        entry = self.by_storage.get(key)
        if entry is None:
            entry = self._new_entry(tensor, base_id, role, fixed_tier)
            self.arguments.append(entry)
        # Tied weights or views of one storage share the tensor; each Python
        # object still gets its placeholder, for the executor.
        node = self.fx.placeholder(_fx_name(base_id))
        self.placeholders[node.name] = what
        self._bind(tensor, node, entry)
        self.tensor_nodes.setdefault(entry.id, node.name)
        self.tensor_outputs.setdefault(entry.id, None)

    def entry_of(self, tensor: torch.Tensor) -> tuple[_Tensor, torch.fx.Node]:
        """The graph tensor and FX node of a tensor the step reads."""
        node = self._known_node(tensor)
        key = _storage_key(tensor)
        if node is not None:
            return self.by_storage[key], node
        entry = self.by_storage.get(key)
        if entry is not None and entry.alive():
            raise CaptureError(
                f"a tensor of shape {list(tensor.shape)} over the storage of "
                f"{entry.id} reached {self.where()} without passing through an "
                "aten op (made by a non-aten op or a C++ extension?)"
            )
        # From outside the step and no argument (a plain tensor attribute, a
        # Python number wrapped as a tensor): a constant.
        n = next(self._constant_count)
        entry = self._new_entry(tensor, f"const:{n}", graph_pb2.TENSOR_ROLE_CONSTANT)
        self.arguments.append(entry)
        node = self.fx.placeholder(f"const_{n}")
        self.placeholders[node.name] = ("constant", None)
        self.constants[node.name] = tensor.detach().clone()
        self._bind(tensor, node, entry)
        self.tensor_nodes[entry.id] = node.name
        self.tensor_outputs[entry.id] = None
        return entry, node

    def saved_for_backward(self, tensor: torch.Tensor) -> None:
        entry = self.by_storage.get(_storage_key(tensor))
        if entry is not None:
            self.saved.add(entry.id)

    # --- op calls ------------------------------------------------------------

    def where(self) -> str:
        if self.phase == "forward":
            return self.module_path[-1] if self.module_path else "forward"
        return self.phase

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.phase_start[phase] = len(self.graph.kernels)

    def record(self, func, args, kwargs, result) -> None:
        namespace = func._schema.name.partition("::")[0]
        if namespace in _BOOKKEEPING_NAMESPACES:
            return
        try:
            described = sig.describe(func, args, kwargs, result)
        except sig.SignatureError as e:
            raise CaptureError(f"cannot capture {func} in {self.where()}: {e}") from None

        # Read before anything is versioned: the ids this call reads.
        inputs = [self.entry_of(t) for t in described.inputs]
        input_ids = [entry.id for entry, _ in inputs]

        def fx_arg(value):
            if isinstance(value, torch.Tensor):
                node = self._known_node(value)
                return node if node is not None else self.entry_of(value)[1]
            return value

        fx_node = self.fx.call_function(
            func, tree_map(fx_arg, tuple(args)), tree_map(fx_arg, dict(kwargs))
        )
        # Each returned tensor with its index path into the result (a
        # result may hold None for an output not asked for).
        paths = list(_tensor_paths(result))
        results = [t for _, t in paths]
        aliases = _return_aliases(func, len(results))

        def result_node(index):
            node = fx_node
            for i in paths[index][0]:
                node = self.fx.call_function(operator.getitem, (node, i))
            return node

        # Written inputs: the schema's (a!) ones, plus the hidden writes.
        written = list(described.written_inputs)
        hidden = _HIDDEN_WRITES.get(func._schema.name)
        if hidden is not None and hidden[1](sig.bind_arguments(func, args, kwargs)):
            for name in hidden[0]:
                token = described.signature.attributes.get(name, "None")
                if token.startswith("t") and int(token[1:]) not in written:
                    written.append(int(token[1:]))
        written_keys = {_storage_key(described.inputs[p]) for p in written}

        # Each result: an alias of an input (a view: not an output), an
        # input written in place (its next version), or a new tensor.
        outcomes = []
        for out, alias in zip(results, aliases):
            key = _storage_key(out)
            if key in written_keys:
                outcomes.append("write")
            elif alias is not None or func._schema.name in _UNANNOTATED_VIEWS:
                outcomes.append("alias")
            else:
                outcomes.append("new")
        returned_keys = {_storage_key(o) for o in results}
        extra_writes = [
            p for p in written if _storage_key(described.inputs[p]) not in returned_keys
        ]
        is_kernel = (
            "new" in outcomes
            or "write" in outcomes
            or extra_writes
            or (not results and described.inputs)
        )
        if not is_kernel:
            for index, (out, outcome) in enumerate(zip(results, outcomes)):
                entry = self.by_storage.get(_storage_key(out))
                if entry is None:
                    raise CaptureError(
                        f"{func} in {self.where()} returned a view of a " "storage it was not given"
                    )
                self._bind(out, result_node(index), entry)
            return

        k = len(self.graph.kernels)
        kernel_id = f"{k:05d}.{self.where()}.{func._schema.name.partition('::')[2]}"
        self.kernel_nodes[kernel_id] = fx_node.name
        self.used.update(input_ids)
        role = (
            graph_pb2.TENSOR_ROLE_GRADIENT
            if self.phase == "backward"
            else graph_pb2.TENSOR_ROLE_ACTIVATION
        )
        signature = described.signature
        outputs: list[tuple[str, int, int]] = []  # (id, bytes, role)
        specs, layouts = [], []
        for index, (out, outcome) in enumerate(zip(results, outcomes)):
            node = result_node(index)
            key = _storage_key(out)
            if outcome == "alias":
                entry = self.by_storage.get(key)
                if entry is None:
                    raise CaptureError(
                        f"{func} in {self.where()} returned a view of a " "storage it was not given"
                    )
                self._bind(out, node, entry)
                continue
            if outcome == "write":
                entry = self.by_storage[key]
                entry.version += 1
                self._tensor_ids.add(entry.id)
                outputs.append((entry.id, entry.nbytes, self._version_role(entry)))
            else:
                entry = self._new_entry(out, f"{kernel_id}/{index}", role)
                outputs.append((entry.id, entry.nbytes, role))
            self._bind(out, node, entry)
            self.tensor_nodes[entry.id] = fx_node.name
            self.tensor_outputs[entry.id] = paths[index][0]
            specs.append(signature.outputs[index])
            layouts.append(signature.attributes.get(f"out{index}.layout"))
        # Inputs written but not returned: next versions after the returned
        # outputs, named in the "writes" attribute.
        for position in extra_writes:
            entry = self.by_storage[_storage_key(described.inputs[position])]
            entry.version += 1
            self._tensor_ids.add(entry.id)
            outputs.append((entry.id, entry.nbytes, self._version_role(entry)))
            self.tensor_nodes[entry.id] = fx_node.name
            self.tensor_outputs[entry.id] = None
            specs.append(signature.inputs[position])
            layouts.append(signature.attributes.get(f"in{position}.layout"))
        for i in range(len(signature.outputs)):
            signature.attributes.pop(f"out{i}.layout", None)
        del signature.outputs[:]
        signature.outputs.extend(specs)
        for i, layout in enumerate(layouts):
            if layout is not None:
                signature.attributes[f"out{i}.layout"] = layout
        if extra_writes:
            signature.attributes["writes"] = "[" + ",".join(f"t{p}" for p in extra_writes) + "]"

        kernel = self.graph.kernels.add(id=kernel_id, op=signature.op)
        kernel.inputs.extend(input_ids)
        kernel.outputs.extend(tensor_id for tensor_id, _, _ in outputs)
        kernel.signature.CopyFrom(signature)
        for tensor_id, nbytes, tensor_role in outputs:
            self.graph.tensors.add(id=tensor_id, size_bytes=nbytes, role=tensor_role)

    @staticmethod
    def _version_role(entry: _Tensor) -> int:
        if entry.role in (graph_pb2.TENSOR_ROLE_INPUT, graph_pb2.TENSOR_ROLE_CONSTANT):
            # An input or constant written in place: what follows is computed.
            return graph_pb2.TENSOR_ROLE_ACTIVATION
        return entry.role


def _pop_module_path(builder: _Builder):
    def hook(module, inputs, output):  # must return None: a value replaces the output
        builder.module_path.pop()

    return hook


def _fx_name(tensor_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in tensor_id)


def _copy_optimizer(
    optimizer: torch.optim.Optimizer, model: torch.nn.Module, copy_model: torch.nn.Module
) -> torch.optim.Optimizer:
    """The same optimizer over ``copy_model``'s parameters, with its state,
    one tensor per kernel (``foreach=False``)."""
    by_id = {id(p): c for p, c in zip(model.parameters(), copy_model.parameters())}
    groups = []
    for group in optimizer.param_groups:
        new_group = {k: v for k, v in group.items() if k != "params"}
        if "foreach" in new_group:
            new_group["foreach"] = False
        try:
            new_group["params"] = [by_id[id(p)] for p in group["params"]]
        except KeyError:
            raise CaptureError(
                "the optimizer holds a tensor that is not a parameter " "of the model"
            ) from None
        groups.append(new_group)
    new = type(optimizer)(groups)
    new.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    for group in new.param_groups:
        if "foreach" in group:
            group["foreach"] = False
    return new


def _step(model, inputs, targets, loss_fn, optimizer):
    output = model(*inputs)
    return loss_fn(output, *targets)


def capture(
    model: torch.nn.Module,
    example_inputs: Sequence[torch.Tensor] | torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    targets: Sequence[torch.Tensor] | torch.Tensor = (),
    name: str | None = None,
) -> Capture:
    """Captures one training iteration of ``model``.

    Args:
      model: the module, in its current train/eval mode.
      example_inputs: the batch passed to ``model(*example_inputs)``.
      loss_fn: ``loss_fn(model_output, *targets) -> scalar tensor``.
      optimizer: an optimizer over ``model``'s parameters (any
        ``torch.optim`` optimizer whose step runs on tensors: SGD, Adam,
        AdamW, ...). Its hyperparameters and state are used, not changed.
      targets: tensors for ``loss_fn`` (labels); pinned like the inputs.
      name: the graph's name (default: the model's class name and batch).

    Returns: a ``Capture``. Raises ``CaptureError`` naming the op and module
    for a step that cannot be described.
    """
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    if isinstance(targets, torch.Tensor):
        targets = (targets,)
    example_inputs, targets = tuple(example_inputs), tuple(targets)
    if not example_inputs:
        raise CaptureError("example_inputs is empty: the model needs a batch")
    for i, t in enumerate(example_inputs + targets):
        if not isinstance(t, torch.Tensor):
            raise CaptureError(f"example input/target {i} is a {type(t).__name__}, not a tensor")
    batch = example_inputs[0].shape[0] if example_inputs[0].dim() > 0 else 1
    name = name or f"{type(model).__name__.lower()}-bs{batch}"

    if not any(True for _ in model.parameters()):
        raise CaptureError(f"{type(model).__name__} has no parameters to train")
    model_copy = copy.deepcopy(model)
    optimizer_copy = _copy_optimizer(optimizer, model, model_copy)
    params = dict(model_copy.named_parameters())

    def one_step(record_hooks=None):
        optimizer_copy.zero_grad(set_to_none=True)
        loss = _step(model_copy, example_inputs, targets, loss_fn, optimizer_copy)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise CaptureError(
                f"loss_fn returned {type(loss).__name__}"
                f"{'' if not isinstance(loss, torch.Tensor) else ' of shape ' + str(list(loss.shape))}"
                ", not a scalar tensor"
            )
        if record_hooks:
            record_hooks("backward")
        loss.backward()
        if record_hooks:
            record_hooks("optimizer")
        optimizer_copy.step()
        return loss

    # Warm-up: creates the optimizer's state the way PyTorch does, so the
    # captured step is a steady-state one.
    if any(
        p not in optimizer_copy.state or not optimizer_copy.state[p]
        for p in params.values()
        if p.requires_grad
    ):
        one_step()
    optimizer_copy.zero_grad(set_to_none=True)

    builder = _Builder(name)
    param_names = {id(p): n for n, p in params.items()}
    for n, p in params.items():
        builder.add_argument(p, f"param:{n}", graph_pb2.TENSOR_ROLE_WEIGHT, ("param", n))
    for n, b in model_copy.named_buffers():
        builder.add_argument(b, f"buffer:{n}", graph_pb2.TENSOR_ROLE_WEIGHT, ("buffer", n))
    for p, state in optimizer_copy.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                pname = param_names.get(id(p), "?")
                builder.add_argument(
                    value,
                    f"state:{pname}.{key}",
                    graph_pb2.TENSOR_ROLE_OPTIMIZER_STATE,
                    ("state", pname, key),
                )
    for i, t in enumerate(example_inputs):
        builder.add_argument(
            t,
            f"input:{i}",
            graph_pb2.TENSOR_ROLE_INPUT,
            ("input", i),
            fixed_tier=graph_pb2.TIER_FAST,
        )
    for i, t in enumerate(targets):
        builder.add_argument(
            t,
            f"target:{i}",
            graph_pb2.TENSOR_ROLE_INPUT,
            ("target", i),
            fixed_tier=graph_pb2.TIER_FAST,
        )

    # Module paths for kernel ids and errors.
    handles = []
    for module_name, module in model_copy.named_modules():
        label = module_name or type(model_copy).__name__
        handles.append(
            module.register_forward_pre_hook(
                lambda m, i, label=label: builder.module_path.append(label)
            )
        )
        handles.append(module.register_forward_hook(_pop_module_path(builder)))

    def pack(t):
        builder.saved_for_backward(t)
        return t

    start = time.perf_counter()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with _Recorder(builder):
                loss = one_step(builder.set_phase)
            loss_node = builder._known_node(loss)
            loss_entry = builder.by_storage.get(_storage_key(loss))
    except CaptureError:
        raise
    except Exception as e:  # noqa: BLE001 - re-raised with where it happened
        raise CaptureError(
            f"the training step failed in {builder.where()}: " f"{type(e).__name__}: {e}"
        ) from e
    finally:
        for h in handles:
            h.remove()
    seconds = time.perf_counter() - start

    # Graph arguments first (tensor order is free; kernels keep theirs).
    graph = builder.graph
    produced = list(graph.tensors)
    del graph.tensors[:]
    for entry in builder.arguments:
        if entry.base_id in builder.used:  # a frozen parameter may be unread
            graph.tensors.add(
                id=entry.base_id,
                size_bytes=entry.nbytes,
                role=entry.role,
                fixed_tier=entry.fixed_tier,
            )
    graph.tensors.extend(produced)
    # Only the last version of a weight or optimizer state is what the next
    # iteration starts from; an intermediate one (momentum after mul_, before
    # add_) dies after its last reader like any activation.
    last_version = {}
    for t in graph.tensors:
        last_version[t.id.split("@")[0]] = t.id
    for t in graph.tensors:
        replaced = last_version[t.id.split("@")[0]] != t.id
        if "@" in t.id and t.role in _PERSISTENT_ROLES and replaced:
            t.role = graph_pb2.TENSOR_ROLE_ACTIVATION
    # Model state no kernel replaces (a buffer read as it is, a frozen
    # weight, a constant) is the next iteration's as it stands, and the
    # loss is the step's result: both stay held to the end of the step, so
    # the plan must count them there (Tensor.persistent).
    kept_as_is = _PERSISTENT_ROLES | {graph_pb2.TENSOR_ROLE_CONSTANT}
    loss_id = loss_entry.id if loss_entry is not None else None
    for t in graph.tensors:
        never_replaced = "@" not in t.id and last_version[t.id] == t.id
        if t.id == loss_id or (never_replaced and t.role in kept_as_is):
            t.persistent = True
    builder.fx.output(loss_node)
    phases = {}
    order = ["forward", "backward", "optimizer"]
    for i, phase in enumerate(order):
        begin = builder.phase_start.get(phase, len(graph.kernels))
        end = (
            builder.phase_start.get(order[i + 1], len(graph.kernels))
            if i + 1 < len(order)
            else len(graph.kernels)
        )
        phases[phase] = (begin, end)
    return Capture(
        graph=graph,
        fx_graph=builder.fx,
        tensor_nodes=builder.tensor_nodes,
        tensor_outputs=builder.tensor_outputs,
        kernel_nodes=builder.kernel_nodes,
        placeholders=builder.placeholders,
        constants=builder.constants,
        saved_tensor_ids=builder.saved,
        loss=float(loss.detach()),
        seconds=seconds,
        phases=phases,
    )
