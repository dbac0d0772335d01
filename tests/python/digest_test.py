"""The canonical graph digest (autotm._digest) against the shared vectors.

tests/testdata/graph_digest_vectors.json is checked by the C++ side too
(common/graph_digest_test.cc): both languages must produce the same bytes
and digests, or asking the server by digest would always miss.
"""

from __future__ import annotations

import json
import os
import pathlib
import unittest

from google.protobuf import json_format

import autotm
from autotm import _digest
from autotm.v1 import graph_pb2

TESTDATA = pathlib.Path(os.environ.get('AUTOTM_SOURCE_DIR', '.')) / 'tests' / 'testdata'


class GraphDigestTest(unittest.TestCase):
    def test_shared_vectors(self) -> None:
        vectors = json.loads((TESTDATA / 'graph_digest_vectors.json').read_text())['vectors']
        self.assertGreaterEqual(len(vectors), 7)
        for vector in vectors:
            with self.subTest(vector['name']):
                if 'graph_file' in vector:
                    graph = json_format.Parse(
                        (TESTDATA / vector['graph_file']).read_text(), graph_pb2.Graph()
                    )
                else:
                    graph = json_format.ParseDict(vector['graph'], graph_pb2.Graph())
                canonical = _digest.canonical_graph_bytes(graph)
                if 'canonical_hex' in vector:
                    self.assertEqual(canonical.hex(), vector['canonical_hex'])
                self.assertEqual(autotm.graph_digest(graph), vector['digest'])
                # A protobuf encoding of the same graph: what a streamed
                # upload sends and the server parses.
                self.assertEqual(graph_pb2.Graph.FromString(canonical), graph)

    def test_unknown_fields_are_not_hashed(self) -> None:
        graph = graph_pb2.Graph(name='g', tensors=[graph_pb2.Tensor(id='t')])
        with_unknown = graph_pb2.Graph.FromString(graph.SerializeToString() + b'\x7a\x01x')
        self.assertNotEqual(with_unknown.SerializeToString(), graph.SerializeToString())
        self.assertEqual(autotm.graph_digest(with_unknown), autotm.graph_digest(graph))

    def test_attribute_order_does_not_matter(self) -> None:
        a = graph_pb2.Graph()
        a.kernels.add().signature.attributes.update({'b': '2', 'a': '1'})
        b = graph_pb2.Graph()
        b.kernels.add().signature.attributes.update({'a': '1', 'b': '2'})
        self.assertEqual(autotm.graph_digest(a), autotm.graph_digest(b))
        b.kernels[0].signature.attributes['b'] = '3'
        self.assertNotEqual(autotm.graph_digest(a), autotm.graph_digest(b))


if __name__ == '__main__':
    unittest.main()
