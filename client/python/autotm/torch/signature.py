"""Kernel signatures of aten op calls: what capture writes, what profiling reads.

A captured kernel is one aten op call (an ``OpOverload`` such as
``aten.convolution.default``). Its ``autotm.v1.KernelSignature`` must say
everything needed to run the same op again on fresh tensors of the same
shapes, because the profiler gets nothing else (the server's work list
carries signatures only). The encoding:

- ``op``: ``"aten::<name>.<overload>"``, e.g. ``"aten::convolution.default"``.
- ``inputs``: the tensor operands in schema order (a ``Tensor[]`` argument
  contributes its elements in order; ``None`` contributes nothing), each as
  dims + dtype. ``outputs``: the tensors the call returns, in order.
- ``attributes``: one entry per schema argument, keyed by the argument's
  name, holding a Python-literal text: ``t3`` for input operand 3, ``None``,
  ``[t0,t1]`` for a tensor list, and for everything else the value's
  canonical literal (``[1,1]``, ``True``, ``0.001``, ``torch.float32``,
  ``torch.contiguous_format``, ``'mean'``). A device is written as ``device``:
  the kernel runs on the profiler's device, whatever it was captured on.
- A call that writes inputs it does not return (batch norm's running
  statistics) lists them in ``writes`` (``[t3,t4]``); their next versions
  follow the returned tensors in ``outputs``.
- An operand that is not a plain contiguous tensor over its whole storage
  (a transposed view, a slice) adds ``in<i>.layout`` (or ``out<i>.layout``) =
  ``[stride, storage_offset, storage_numel]`` so the profiler can rebuild the
  same strided view over a buffer of the same size.

Equal calls give equal signatures (attribute values are canonical), so the
same op on the same shapes shares one profile entry. Decoding never
evaluates code: the text is parsed with ``ast`` and only literals, ``tN``
operand tokens, ``inf``/``nan`` and ``torch.<dtype|layout|memory_format>``
names are accepted.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from autotm.v1 import graph_pb2

# torch dtype <-> autotm.v1.DataType. Other dtypes (complex, qint) are not
# describable: capture refuses the op with an error naming it.
_DTYPES = {
    torch.float32: graph_pb2.DATA_TYPE_F32,
    torch.float16: graph_pb2.DATA_TYPE_F16,
    torch.bfloat16: graph_pb2.DATA_TYPE_BF16,
    torch.float64: graph_pb2.DATA_TYPE_F64,
    torch.int32: graph_pb2.DATA_TYPE_I32,
    torch.int64: graph_pb2.DATA_TYPE_I64,
    torch.int8: graph_pb2.DATA_TYPE_I8,
    torch.uint8: graph_pb2.DATA_TYPE_U8,
    torch.bool: graph_pb2.DATA_TYPE_BOOL,
}
_TORCH_DTYPE = {v: k for k, v in _DTYPES.items()}

_OP_TEXT = re.compile(r"^aten::([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_OPERAND = re.compile(r"^t(\d+)$")


class SignatureError(ValueError):
    """A call or a signature that cannot be described or rebuilt."""


def data_type(dtype: torch.dtype) -> int:
    """The autotm.v1.DataType of a torch dtype; SignatureError if none."""
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise SignatureError(f"dtype {dtype} has no autotm DataType") from None


def torch_dtype(data_type_value: int) -> torch.dtype:
    try:
        return _TORCH_DTYPE[data_type_value]
    except KeyError:
        raise SignatureError(f"unknown DataType {data_type_value}") from None


def op_text(func: torch._ops.OpOverload) -> str:
    """``aten::name.overload`` for an aten OpOverload."""
    schema = func._schema
    namespace, _, name = schema.name.partition("::")
    if namespace != "aten":
        raise SignatureError(f"{schema.name}: only aten ops can be described")
    return f"aten::{name}.{schema.overload_name or 'default'}"


def resolve_op(text: str) -> torch._ops.OpOverload:
    """The OpOverload an ``op`` text names; SignatureError if it is not one."""
    m = _OP_TEXT.match(text)
    if m is None:
        raise SignatureError(f"op {text!r} is not of the form aten::name.overload")
    name, overload = m.groups()
    packet = getattr(torch.ops.aten, name, None)
    func = getattr(packet, overload, None) if packet is not None else None
    if not isinstance(func, torch._ops.OpOverload):
        raise SignatureError(f"op {text!r}: torch {torch.__version__} has no such aten op")
    return func


def _is_tensor_type(arg_type) -> bool:
    text = str(arg_type)
    return (
        text.startswith("Tensor")
        or text.startswith("Optional[Tensor]")
        or text in ("List[Tensor]", "List[Optional[Tensor]]")
    )


def literal(value: Any) -> str:
    """Canonical Python-literal text of a non-tensor argument value."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(literal(v) for v in value) + "]"
    if isinstance(value, (torch.dtype, torch.layout, torch.memory_format)):
        return str(value)
    if isinstance(value, torch.device):
        return "device"
    if isinstance(value, torch.SymInt) if hasattr(torch, "SymInt") else False:
        raise SignatureError(f"symbolic size {value} in a captured call")
    raise SignatureError(
        f"argument value {value!r} of type {type(value).__name__} "
        "cannot be written in a signature"
    )


def _parse_node(node: ast.AST, operands: Sequence[torch.Tensor], device) -> Any:
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _parse_node(node.operand, operands, device)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_parse_node(e, operands, device) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id in ("inf", "nan"):
            return float(node.id)
        if node.id == "device":
            return device
        m = _OPERAND.match(node.id)
        if m is not None:
            index = int(m.group(1))
            if index >= len(operands):
                raise SignatureError(f"operand t{index} out of range ({len(operands)} inputs)")
            return operands[index]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "torch"
    ):
        value = getattr(torch, node.attr, None)
        if isinstance(value, (torch.dtype, torch.layout, torch.memory_format)):
            return value
    raise SignatureError(f"unexpected {ast.dump(node)[:80]} in an attribute value")


def parse_literal(text: str, operands: Sequence[torch.Tensor] = (), device=None) -> Any:
    """The value of an attribute text, with ``tN`` bound to ``operands[N]``."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise SignatureError(f"attribute value {text!r} is not a literal: {e.msg}") from None
    return _parse_node(tree.body, operands, device)


def _layout_attr(t: torch.Tensor) -> str | None:
    storage_numel = t.storage().size()
    if t.is_contiguous() and t.storage_offset() == 0 and storage_numel == t.numel():
        return None
    return literal([list(t.stride()), t.storage_offset(), storage_numel])


def _operand_spec(t: torch.Tensor) -> graph_pb2.OperandSpec:
    return graph_pb2.OperandSpec(dims=list(t.shape), dtype=data_type(t.dtype))


@dataclass
class Described:
    """An op call as a signature plus the tensors behind its operands."""

    signature: graph_pb2.KernelSignature
    inputs: list[torch.Tensor] = field(default_factory=list)
    outputs: list[torch.Tensor] = field(default_factory=list)
    # Input positions the op writes (schema ``(a!)``): in-place and out=.
    written_inputs: list[int] = field(default_factory=list)


def describe(
    func: torch._ops.OpOverload, args: Sequence[Any], kwargs: dict, result: Any
) -> Described:
    """The signature of one call ``func(*args, **kwargs) -> result``."""
    schema = func._schema
    bound = bind_arguments(func, args, kwargs)
    described = Described(graph_pb2.KernelSignature(op=op_text(func)))
    sig = described.signature
    for arg in schema.arguments:
        value = bound.get(arg.name, arg.default_value if arg.has_default_value() else None)
        if _is_tensor_type(arg.type) or isinstance(value, torch.Tensor):
            writes = arg.alias_info is not None and arg.alias_info.is_write
            if isinstance(value, torch.Tensor):
                if writes:
                    described.written_inputs.append(len(described.inputs))
                sig.attributes[arg.name] = f"t{len(described.inputs)}"
                described.inputs.append(value)
            elif isinstance(value, (list, tuple)):
                tokens = []
                for element in value:
                    if element is None:
                        tokens.append("None")
                    elif isinstance(element, torch.Tensor):
                        if writes:
                            described.written_inputs.append(len(described.inputs))
                        tokens.append(f"t{len(described.inputs)}")
                        described.inputs.append(element)
                    else:
                        raise SignatureError(
                            f"{schema.name}: argument {arg.name} mixes "
                            f"tensors with {type(element).__name__}"
                        )
                sig.attributes[arg.name] = "[" + ",".join(tokens) + "]"
            elif value is None:
                sig.attributes[arg.name] = "None"
            else:
                sig.attributes[arg.name] = literal(value)
        else:
            sig.attributes[arg.name] = literal(value)
    for i, t in enumerate(described.inputs):
        sig.inputs.append(_operand_spec(t))
        layout = _layout_attr(t)
        if layout is not None:
            sig.attributes[f"in{i}.layout"] = layout
    flat = result if isinstance(result, (list, tuple)) else [result]
    for value in flat:
        if isinstance(value, torch.Tensor):
            described.outputs.append(value)
    for i, t in enumerate(described.outputs):
        sig.outputs.append(_operand_spec(t))
        layout = _layout_attr(t)
        if layout is not None:
            sig.attributes[f"out{i}.layout"] = layout
    return described


def bind_arguments(func: torch._ops.OpOverload, args: Sequence[Any], kwargs: dict) -> dict:
    """The call's arguments by schema name (positional ones bound in order)."""
    schema = func._schema
    bound = {}
    positional = [a for a in schema.arguments if not a.kwarg_only]
    if len(args) > len(positional):
        raise SignatureError(
            f"{schema.name}: {len(args)} positional arguments, " f"schema takes {len(positional)}"
        )
    for arg, value in zip(positional, args):
        bound[arg.name] = value
    for name, value in kwargs.items():
        bound[name] = value
    return bound


def operand_layout(signature: graph_pb2.KernelSignature, kind: str, index: int):
    """``(stride, storage_offset, storage_numel)`` of operand ``kind`` ("in" or
    "out") ``index``, or None for a plain contiguous tensor."""
    text = signature.attributes.get(f"{kind}{index}.layout")
    if text is None:
        return None
    value = parse_literal(text)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], list)
        or not all(isinstance(v, int) for v in value[0] + value[1:])
    ):
        raise SignatureError(f"{kind}{index}.layout {text!r} is not [stride, offset, numel]")
    return value[0], value[1], value[2]


def storage_numel(signature: graph_pb2.KernelSignature, kind: str, index: int) -> int:
    """Elements the buffer behind an operand must hold."""
    spec = (signature.inputs if kind == "in" else signature.outputs)[index]
    layout = operand_layout(signature, kind, index)
    if layout is not None:
        return layout[2]
    return math.prod(spec.dims)


def view_of(
    buffer: torch.Tensor, signature: graph_pb2.KernelSignature, kind: str, index: int
) -> torch.Tensor:
    """Operand ``index`` as the captured view over a flat ``buffer`` of
    ``storage_numel`` elements of its dtype."""
    spec = (signature.inputs if kind == "in" else signature.outputs)[index]
    layout = operand_layout(signature, kind, index)
    if layout is None:
        return buffer.view(list(spec.dims))
    stride, offset, _ = layout
    return buffer.as_strided(list(spec.dims), stride, offset)
