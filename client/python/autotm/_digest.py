"""The canonical graph digest, as the C++ server and client compute it.

proto/autotm/v1/graph.proto ("Canonical digest") specifies the bytes: the
protobuf wire format written field by field in field-number order, scalars
at their zero value left out, `dims` packed, map entries sorted by key bytes
with key and value always written, unknown fields dropped. Python's own
SerializeToString(deterministic=True) is not used: protobuf promises it
stable only within one runtime, and the digest must agree across languages
(tests/testdata/graph_digest_vectors.json holds both to the same bytes).
"""

from __future__ import annotations

import hashlib

from autotm.v1 import graph_pb2

_VARINT = 0
_LENGTH_DELIMITED = 2
DIGEST_PREFIX = 'sha256:'


def _varint(value: int, out: bytearray) -> None:
    value &= (1 << 64) - 1  # negative int64/enum: two's complement, 10 bytes
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _tag(field: int, wire_type: int, out: bytearray) -> None:
    _varint((field << 3) | wire_type, out)


def _put_bytes(field: int, data: bytes, out: bytearray) -> None:
    """A length-delimited field, written even when `data` is empty."""
    _tag(field, _LENGTH_DELIMITED, out)
    _varint(len(data), out)
    out += data


def _put_string(field: int, value: str, out: bytearray) -> None:
    if value:
        _put_bytes(field, value.encode('utf-8'), out)


def _put_uint(field: int, value: int, out: bytearray) -> None:
    if value:
        _tag(field, _VARINT, out)
        _varint(value, out)


def _operand(operand: graph_pb2.OperandSpec) -> bytes:
    out = bytearray()
    if operand.dims:
        packed = bytearray()
        for dim in operand.dims:
            _varint(dim, packed)
        _put_bytes(1, bytes(packed), out)
    _put_uint(2, operand.dtype, out)
    return bytes(out)


def _signature(signature: graph_pb2.KernelSignature) -> bytes:
    out = bytearray()
    _put_string(1, signature.op, out)
    for operand in signature.inputs:
        _put_bytes(2, _operand(operand), out)
    for operand in signature.outputs:
        _put_bytes(3, _operand(operand), out)
    entries = sorted(
        (key.encode('utf-8'), value.encode('utf-8')) for key, value in signature.attributes.items()
    )
    for key, value in entries:
        entry = bytearray()
        _put_bytes(1, key, entry)
        _put_bytes(2, value, entry)
        _put_bytes(4, bytes(entry), out)
    return bytes(out)


def _kernel(kernel: graph_pb2.Kernel) -> bytes:
    out = bytearray()
    _put_string(1, kernel.id, out)
    _put_string(2, kernel.op, out)
    for name in kernel.inputs:
        _put_bytes(3, name.encode('utf-8'), out)
    for name in kernel.outputs:
        _put_bytes(4, name.encode('utf-8'), out)
    if kernel.HasField('signature'):
        _put_bytes(5, _signature(kernel.signature), out)
    return bytes(out)


def _tensor(tensor: graph_pb2.Tensor) -> bytes:
    out = bytearray()
    _put_string(1, tensor.id, out)
    _put_uint(2, tensor.size_bytes, out)
    _put_uint(3, tensor.role, out)
    _put_uint(4, tensor.fixed_tier, out)
    _put_uint(5, int(tensor.persistent), out)
    return bytes(out)


def canonical_graph_bytes(graph: graph_pb2.Graph) -> bytes:
    """The canonical encoding of `graph` (graph.proto, "Canonical digest")."""
    out = bytearray()
    _put_string(1, graph.name, out)
    for tensor in graph.tensors:
        _put_bytes(2, _tensor(tensor), out)
    for kernel in graph.kernels:
        _put_bytes(3, _kernel(kernel), out)
    return bytes(out)


def graph_digest(graph: graph_pb2.Graph) -> str:
    """ "sha256:" + hex SHA-256 of canonical_graph_bytes(graph)."""
    return DIGEST_PREFIX + hashlib.sha256(canonical_graph_bytes(graph)).hexdigest()
