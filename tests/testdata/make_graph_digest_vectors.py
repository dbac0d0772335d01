#!/usr/bin/python3
"""Writes graph_digest_vectors.json: graphs and their canonical digests.

The vectors pin the canonical graph digest (proto/autotm/v1/graph.proto,
"Canonical digest") so that the C++ (common/graph_digest_test.cc) and the
Python (tests/python/client_test.py) implementations are held to the same
bytes. Each case covers a rule of the encoding: zero scalars left out,
negative dims and enum values (10-byte varints), map entries sorted by key
bytes with empty values written, an empty but set signature, empty strings
in repeated fields, non-ASCII ids, uint64 extremes, a bool written as 1.

  PYTHONPATH=build/python /usr/bin/python3 \
      tests/testdata/make_graph_digest_vectors.py > \
      tests/testdata/graph_digest_vectors.json

Rerun only when the encoding changes on purpose (which changes every stored
graph's key): the point of the file is that it does not change.
"""

import json
import os
import sys

from google.protobuf import json_format

from autotm import _digest
from autotm.v1 import graph_pb2

CASES = [
    ('empty graph', {}),
    ('name only', {'name': 'g'}),
    (
        'zero scalars left out',
        {
            'tensors': [{'id': 't', 'sizeBytes': '0', 'role': 'TENSOR_ROLE_UNSPECIFIED'}],
        },
    ),
    (
        'uint64 extremes and enums',
        {
            'name': 'extremes',
            'tensors': [
                {'id': 'big', 'sizeBytes': '18446744073709551615', 'role': 'TENSOR_ROLE_WEIGHT'},
                {
                    'id': 'one',
                    'sizeBytes': '1',
                    'role': 'TENSOR_ROLE_GRADIENT',
                    'fixedTier': 'TIER_SLOW',
                },
                {'id': 'unknown-enum', 'sizeBytes': '128', 'role': 99, 'fixedTier': -3},
            ],
        },
    ),
    (
        'signature rules',
        {
            'name': 'sig',
            'tensors': [
                {'id': 'a', 'sizeBytes': '64', 'role': 'TENSOR_ROLE_INPUT'},
                {'id': 'b', 'sizeBytes': '64', 'role': 'TENSOR_ROLE_ACTIVATION'},
            ],
            'kernels': [
                {
                    'id': 'k0',
                    'op': 'conv2d_fwd',
                    'inputs': ['a', 'a', ''],
                    'outputs': ['b'],
                    'signature': {
                        'op': 'conv2d_fwd',
                        'inputs': [
                            {
                                'dims': ['-1', '0', '3', '9223372036854775807'],
                                'dtype': 'DATA_TYPE_F32',
                            },
                            {'dtype': 'DATA_TYPE_BF16'},
                            {},
                        ],
                        'outputs': [{'dims': ['-9223372036854775808'], 'dtype': 'DATA_TYPE_BOOL'}],
                        'attributes': {
                            'stride': '2',
                            'padding': '',
                            'Z': 'upper case sorts first',
                            '\u00e9t\u00e9': 'non-ASCII key sorts last',
                            'dilation': '1',
                        },
                    },
                },
                {'id': 'k1', 'op': 'relu_fwd', 'inputs': ['b'], 'outputs': ['b'], 'signature': {}},
                {'id': 'k2-no-signature', 'inputs': ['b']},
            ],
        },
    ),
    (
        'non-ASCII and long strings',
        {
            'name': 'gr\u00e4ph-\u4e2d\u6587-\U0001f600',
            'tensors': [{'id': 'x' * 300, 'sizeBytes': '300', 'role': 'TENSOR_ROLE_CONSTANT'}],
        },
    ),
    (
        'persistent written as 1, false left out',
        {
            'name': 'state',
            'tensors': [
                {
                    'id': 'mask',
                    'sizeBytes': '1024',
                    'role': 'TENSOR_ROLE_WEIGHT',
                    'persistent': True,
                },
                {'id': 'w', 'sizeBytes': '64', 'role': 'TENSOR_ROLE_WEIGHT', 'persistent': False},
            ],
        },
    ),
]


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    vectors = []
    for name, graph_json in CASES:
        graph = json_format.ParseDict(graph_json, graph_pb2.Graph())
        canonical = _digest.canonical_graph_bytes(graph)
        vectors.append(
            {
                'name': name,
                'graph': graph_json,
                'canonical_hex': canonical.hex(),
                'digest': _digest.graph_digest(graph),
            }
        )
    with open(os.path.join(here, 'example_cnn.graph.json')) as f:
        example = json_format.Parse(f.read(), graph_pb2.Graph())
    # The bundled example by file: too long to spell out its bytes.
    vectors.append(
        {
            'name': 'bundled example',
            'graph_file': 'example_cnn.graph.json',
            'digest': _digest.graph_digest(example),
        }
    )
    json.dump(
        {
            'comment': (
                'Canonical graph digests (proto/autotm/v1/graph.proto, "Canonical '
                'digest"), checked by common/graph_digest_test.cc and '
                'tests/python/client_test.py; written by make_graph_digest_vectors.py.'
            ),
            'vectors': vectors,
        },
        sys.stdout,
        indent=2,
        ensure_ascii=True,
    )
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
