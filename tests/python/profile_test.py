"""Tests of autotm._tiers and autotm.torch.profiler (aten kernel profiling).

Real aten kernels run with the fast tier on NUMA node 0 and the slow tier on
a file in a temporary directory (page cache): that proves the mechanics
(placement, configurations, separable costs, cache, upload), not the speed
of slow memory, so nothing here asserts that one tier is slower.

Run (after building the autotm_python target):
  cd tests/python && AUTOTM_SOURCE_DIR=$PWD/../.. \\
    PYTHONPATH=$PWD/../../build/python /usr/bin/python3 -m unittest -v profile_test
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import mmap
import os
import tempfile
import unittest

import grpc
import torch

from autotm import _json
from autotm import _tiers
from autotm._errors import AutotmError
from autotm.client import Client
from autotm.torch import profiler
from autotm.torch import signature
from autotm.v1 import graph_pb2, profile_pb2

from server_process import start_server

SOURCE_DIR = os.environ.get(
    "AUTOTM_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)

# Few, short repetitions: the tests check mechanics, not speed.
QUICK = dict(warmup=1, min_reps=2, max_reps=3, max_spread=1.0, max_time_ms=20.0, copy_bytes=1 << 20)

aten = torch.ops.aten


def describe(func, *args, **kwargs) -> graph_pb2.KernelSignature:
    """The signature of a real call."""
    result = func(*args, **kwargs)
    return signature.describe(func, args, kwargs, result).signature


def item_of(sig: graph_pb2.KernelSignature, *usages) -> profile_pb2.WorkItem:
    item = profile_pb2.WorkItem(signature=sig, graphs=1)
    for first_position, fixed_tier in usages:
        item.usages.add(first_position=first_position, fixed_tier=fixed_tier)
    return item


def conv_signature() -> graph_pb2.KernelSignature:
    x, w, b = torch.rand(2, 3, 6, 6), torch.rand(4, 3, 3, 3), torch.rand(4)
    return describe(aten.convolution.default, x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)


def mm_transposed_signature() -> graph_pb2.KernelSignature:
    a, b = torch.rand(8, 16), torch.rand(8, 16).t()  # b: a transposed view
    return describe(aten.mm.default, a, b)


def add_inplace_signature() -> graph_pb2.KernelSignature:
    return describe(aten.add_.Tensor, torch.rand(64), torch.rand(64), alpha=2)


def selu_signature(shape=(16,)) -> graph_pb2.KernelSignature:
    # aten::selu has no out= overload in torch 1.13.
    return describe(aten.selu.default, torch.rand(*shape))


def batch_norm_signature() -> graph_pb2.KernelSignature:
    """native_batch_norm in training, as capture writes it: the running
    statistics it updates in place are extra outputs named by `writes`."""
    x = torch.rand(2, 4, 3, 3)
    w, b, rm, rv = torch.rand(4), torch.rand(4), torch.zeros(4), torch.ones(4)
    sig = describe(aten.native_batch_norm.default, x, w, b, rm, rv, True, 0.1, 1e-5)
    sig.outputs.append(sig.inputs[3])
    sig.outputs.append(sig.inputs[4])
    sig.attributes["writes"] = "[t3,t4]"
    return sig


def configs_of(kernel: profile_pb2.KernelProfile) -> set[str]:
    return {c.config for c in kernel.configs}


class TiersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_numa_buffer_is_writable_through_frombuffer_and_verified(self):
        tier = _tiers.Tier("numa:0")
        self.assertEqual(tier.spec, "numa:0")
        self.assertIn("NUMA node 0", tier.description)
        buf = tier.allocate(10000)
        self.assertGreaterEqual(buf.size, 10000)
        self.assertEqual(buf.size % 4096, 0)
        self.assertEqual(buf.address % 4096, 0)
        t = torch.frombuffer(buf, dtype=torch.float32)
        self.assertEqual(t.data_ptr(), buf.address)
        t.fill_(1.5)
        self.assertEqual(memoryview(buf).cast("f")[7], 1.5)
        tier.verify(buf)
        tier.verify(buf.address, buf.size)

    def test_file_tier_buffer_lives_in_the_directory_while_referenced(self):
        tier = _tiers.Tier(f"file:{self.tmp.name}")
        self.assertIn("file", tier.description)
        buf = tier.allocate(1 << 16)
        self.assertEqual(len(os.listdir(self.tmp.name)), 1)
        t = torch.frombuffer(buf, dtype=torch.int64)
        tier.verify(buf)
        del buf
        gc.collect()
        t[3] = 7  # the tensor keeps the buffer alive
        self.assertEqual(int(t[3]), 7)
        self.assertEqual(len(os.listdir(self.tmp.name)), 1)
        del t
        gc.collect()
        self.assertEqual(os.listdir(self.tmp.name), [])

    def test_misplaced_buffer_is_an_error_naming_the_page(self):
        numa = _tiers.Tier("numa:0")
        file_tier = _tiers.Tier(f"file:{self.tmp.name}")
        on_node = numa.allocate(8192)
        in_file = file_tier.allocate(8192)
        with self.assertRaises(_tiers.TierError) as e:
            file_tier.verify(on_node)
        self.assertEqual(e.exception.code, "FAILED_PRECONDITION")
        file_tier.verify(in_file)
        # Pages never touched are on no node.
        untouched = mmap.mmap(-1, 3 * 4096)
        address = ctypes.addressof(ctypes.c_char.from_buffer(untouched))
        with self.assertRaisesRegex(_tiers.TierError, "page 0 .*NUMA node 0 is not placed"):
            numa.verify(address, 3 * 4096)
        with self.assertRaisesRegex(ValueError, "nbytes is required"):
            numa.verify(address)

    def test_bad_specs_are_clear_errors(self):
        with self.assertRaisesRegex(ValueError, "numa:N"):
            _tiers.Tier("dram")
        with self.assertRaisesRegex(ValueError, "node 63 does not exist"):
            _tiers.Tier("numa:63")
        with self.assertRaises(_tiers.TierError) as e:
            _tiers.Tier("file:/nonexistent/autotm")
        self.assertEqual(e.exception.code, "NOT_FOUND")
        with self.assertRaisesRegex(ValueError, "nbytes"):
            _tiers.Tier("numa:0").allocate(0)
        with self.assertRaisesRegex(AutotmError, "numa:N") as e:
            profiler.make_tier("dram")
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    def test_copy_bandwidth(self):
        bw = _tiers.measure_copy_bandwidth(
            _tiers.Tier("numa:0"),
            _tiers.Tier(f"file:{self.tmp.name}"),
            1 << 20,
            2,
            warmup=1,
            min_reps=2,
            max_reps=3,
        )
        self.assertGreater(bw["sync_gb_per_s"], 0)
        self.assertGreater(bw["async_gb_per_s"], 0)
        self.assertGreaterEqual(bw["sync"]["repetitions"], 2)


class KeysAndConfigsTest(unittest.TestCase):
    def test_signature_key_matches_solver_signature_key(self):
        # Keys printed by `autotm solve` for tests/testdata/example_cnn.*
        # ("profile ... lacks kernel signature(s)") and solver tests.
        expected = {
            "conv2d_fwd(f32[32,3,32,32],f32[32,3,3,3],f32[32])->(f32[32,32,32,32])"
            "{kernel=3,pad=1,stride=1}",
            "linear_fwd(f32[32,128,4,4],f32[10,2048],f32[10])->(f32[32,10])",
            "maxpool2d_bwd(f32[32,128,4,4],f32[32,128,8,8])->(f32[32,128,8,8])"
            "{kernel=2,stride=2}",
        }
        example = _json.load_profile(
            os.path.join(SOURCE_DIR, "tests", "testdata", "example_cnn.profile.json")
        )
        keys = {profiler.signature_key(k.signature) for k in example.kernels}
        self.assertLessEqual(expected, keys)
        sig = graph_pb2.KernelSignature(op="test_op", attributes={"kernel": "k1"})
        sig.inputs.add(dims=[50], dtype=graph_pb2.DATA_TYPE_F32)
        sig.inputs.add(dims=[1], dtype=graph_pb2.DATA_TYPE_F32)
        sig.outputs.add(dims=[75], dtype=graph_pb2.DATA_TYPE_F32)
        self.assertEqual(
            profiler.signature_key(sig), "test_op(f32[50],f32[1])->(f32[75]){kernel=k1}"
        )
        self.assertEqual(profiler.signature_key(graph_pb2.KernelSignature(op="noop")), "noop()->()")

    def test_format_config(self):
        self.assertEqual(profiler.format_config(0b0110, 2, 2), "FS|SF")
        self.assertEqual(profiler.format_config(1, 1, 0), "S|")
        self.assertEqual(profiler.format_config(1, 0, 1), "|S")

    def test_work_list_usages_and_usable_configs(self):
        sig = describe(aten.mul.Tensor, torch.rand(4), torch.rand(4))
        graph = graph_pb2.Graph(name="g")
        for tid, tier in (("x", graph_pb2.TIER_FAST), ("y", 0), ("z", 0), ("w", 0)):
            graph.tensors.add(id=tid, size_bytes=16, fixed_tier=tier)
        graph.kernels.add(id="k0", inputs=["y", "y"], outputs=["z"], signature=sig)
        graph.kernels.add(id="k1", inputs=["x", "z"], outputs=["w"], signature=sig)
        graph.kernels.add(id="k2", inputs=["y", "y"], outputs=["w"], signature=sig)
        items = profiler.work_list_of(graph)
        self.assertEqual(len(items), 1)
        self.assertEqual([list(u.first_position) for u in items[0].usages], [[0, 0, 2], [0, 1, 2]])
        self.assertEqual(list(items[0].usages[1].fixed_tier), [graph_pb2.TIER_FAST, 0, 0])
        # k0's usage: both inputs on one tier; k1's: input 0 fast.
        self.assertEqual(profiler.usable_configs(items[0]), [0, 2, 3, 4, 6, 7])
        graph.kernels.add(id="bad", inputs=["nope"], outputs=["w"], signature=sig)
        with self.assertRaisesRegex(AutotmError, "undeclared tensor 'nope'"):
            profiler.work_list_of(graph)

    def test_host_fingerprint_names_torch_threads_and_tiers(self):
        with tempfile.TemporaryDirectory() as tmp:
            fp = profiler.host_fingerprint(_tiers.Tier("numa:0"), _tiers.Tier(f"file:{tmp}"))
        self.assertIn(f"torch={torch.__version__}", fp)
        self.assertIn(f"threads={torch.get_num_threads()}", fp)
        self.assertIn("fast=DRAM NUMA node 0", fp)
        self.assertNotIn("onednn", fp)


class ProfileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.slow_dir = os.path.join(self.tmp.name, "slow")
        os.mkdir(self.slow_dir)
        self.fast = _tiers.Tier("numa:0")
        self.slow = _tiers.Tier(f"file:{self.slow_dir}")

    def profile(self, items, **options):
        options = {**QUICK, **options}
        return profiler.profile_work_list(items, self.fast, self.slow, **options)

    def test_full_tables(self):
        sigs = [
            conv_signature(),
            mm_transposed_signature(),
            add_inplace_signature(),
            describe(aten.cat.default, [torch.rand(2, 3), torch.rand(4, 3)], 0),
        ]
        self.assertIn("in1.layout", sigs[1].attributes)  # the transposed operand
        progress = []
        profile, unsupported = self.profile(
            [item_of(s) for s in sigs], host_class="test", on_progress=progress.append
        )
        self.assertEqual(unsupported, [])
        self.assertEqual(profile.host_class.name, "test")
        self.assertEqual(len(profile.kernels), 4)
        for sig, kernel in zip(sigs, profile.kernels):
            n = len(sig.inputs) + len(sig.outputs)
            # convolution's output is always fast (its out= form is
            # composite): half of the table.
            expected = 2 ** (n - 1) if sig.op == "aten::convolution.default" else 2**n
            self.assertEqual(len(kernel.configs), expected, sig.op)
            self.assertEqual(kernel.signature, sig)
            for c in kernel.configs:
                self.assertGreater(c.time_us, 0)
                self.assertGreaterEqual(c.repetitions, 2)
        self.assertIn("SS|S", configs_of(profile.kernels[1]))
        self.assertIn("FSS|F", configs_of(profile.kernels[0]))
        self.assertGreater(profile.bandwidths.fast_to_slow_sync_gb_per_s, 0)
        self.assertGreater(profile.bandwidths.slow_to_fast_async_gb_per_s, 0)
        self.assertEqual(progress[-1].done_configs, 8 + 8 + 8 + 8)
        self.assertEqual(progress[-1].total_configs, 8 + 8 + 8 + 8)
        # Every buffer was freed (the file tier's files removed).
        gc.collect()
        self.assertEqual(os.listdir(self.slow_dir), [])

    def test_inplace_op_runs_through_its_out_form(self):
        plan = profiler._plan_call(add_inplace_signature())
        self.assertEqual(str(plan.target), "aten.add.out")
        self.assertEqual(plan.out_outputs, [0])

    def test_composite_out_form_is_not_used(self):
        # convolution.out is composite in torch 1.13 (convolution, then a
        # copy into out=): the op computes in fast memory whatever out= says,
        # so its output is measured fast only. mm.out is a real CPU kernel.
        conv = profiler._plan_call(conv_signature())
        self.assertEqual(str(conv.target), "aten.convolution.default")
        self.assertEqual(conv.default_outputs, [0])
        self.assertEqual(str(profiler._plan_call(mm_transposed_signature()).target), "aten.mm.out")
        profile, unsupported = profiler.profile_work_list(
            [item_of(conv_signature())], self.fast, self.slow, **QUICK
        )
        self.assertEqual(unsupported, [])
        configs = configs_of(profile.kernels[0])
        self.assertIn("FFF|F", configs)
        self.assertFalse(any(c.endswith("|S") for c in configs), configs)

    def test_aliased_and_pinned_operands_are_not_measured_split(self):
        sig = describe(aten.mul.Tensor, torch.rand(8), torch.rand(8))
        item = item_of(sig, ([0, 0, 2], [0, 0, 0]))  # x * x
        profile, unsupported = self.profile([item])
        self.assertEqual(unsupported, [])
        self.assertEqual(configs_of(profile.kernels[0]), {"FF|F", "SS|F", "FF|S", "SS|S"})
        pinned = item_of(sig, ([0, 1, 2], [graph_pb2.TIER_FAST, 0, graph_pb2.TIER_SLOW]))
        profile, _ = self.profile([pinned])
        self.assertEqual(configs_of(profile.kernels[0]), {"FF|S", "FS|S"})

    def test_separable_when_the_table_is_too_big(self):
        sig = mm_transposed_signature()
        profile, unsupported = self.profile([item_of(sig)], max_configs=4)
        self.assertEqual(unsupported, [])
        kernel = profile.kernels[0]
        self.assertEqual(len(kernel.configs), 0)
        self.assertTrue(kernel.HasField("separable"))
        self.assertGreater(kernel.separable.all_fast_time_us, 0)
        self.assertEqual(len(kernel.separable.input_slow_penalty_us), 2)
        self.assertEqual(len(kernel.separable.output_slow_penalty_us), 1)
        for penalty in list(kernel.separable.input_slow_penalty_us) + list(
            kernel.separable.output_slow_penalty_us
        ):
            self.assertGreaterEqual(penalty, 0)

    def test_batch_norm_hidden_writes_stay_with_their_input(self):
        sig = batch_norm_signature()
        self.assertEqual(len(sig.inputs) + len(sig.outputs), 10)
        plan = profiler._plan_call(sig)
        # torch 1.13's native_batch_norm.out has no CPU kernel: the outputs
        # come from the allocator, the running statistics are written in place.
        self.assertEqual(str(plan.target), "aten.native_batch_norm.default")
        self.assertEqual(plan.default_outputs, [0, 1, 2])
        self.assertEqual(plan.tied, {3: 3, 4: 4})
        # 2^10 > 256, but only 2^5 configurations can run: a table of those.
        profile, unsupported = self.profile([item_of(sig)])
        self.assertEqual(unsupported, [])
        configs = configs_of(profile.kernels[0])
        self.assertEqual(len(configs), 32)
        for c in configs:
            ins, outs = c.split("|")
            self.assertEqual(outs, "FFF" + ins[3] + ins[4], c)
        # Fewer allowed: separable, whose output penalties are unknown.
        profile, unsupported = self.profile([item_of(sig)], max_configs=16)
        self.assertEqual(len(profile.kernels), 0)
        self.assertIn("PyTorch's allocator", unsupported[0])

    def test_separable_with_an_input_written_in_place(self):
        # The same op in a signature whose outputs all go through out=
        # (aten::add_ writing its input in place as a hidden write).
        sig = add_inplace_signature()
        sig.outputs.append(sig.inputs[1])
        sig.attributes["writes"] = "[t1]"
        profile, unsupported = self.profile([item_of(sig)], max_configs=2)
        self.assertEqual(unsupported, [])
        sep = profile.kernels[0].separable
        self.assertEqual(len(sep.input_slow_penalty_us), 2)
        self.assertEqual(list(sep.output_slow_penalty_us)[1:], [0.0])

    def test_op_without_out_overload(self):
        sig = selu_signature()
        profile, unsupported = self.profile([item_of(sig)])
        self.assertEqual(unsupported, [])
        # Its output comes from PyTorch's allocator, i.e. the fast tier.
        self.assertEqual(configs_of(profile.kernels[0]), {"F|F", "S|F"})
        profile, unsupported = self.profile([item_of(sig)], max_configs=1)
        self.assertEqual(len(profile.kernels), 0)
        self.assertEqual(len(unsupported), 1)
        self.assertTrue(unsupported[0].startswith(profiler.signature_key(sig) + ": "))
        self.assertIn("penalties cannot be measured", unsupported[0])

    def test_unknown_op_and_bad_signature_are_unsupported(self):
        bogus = graph_pb2.KernelSignature(op="aten::no_such_op.default")
        bogus.inputs.add(dims=[4], dtype=graph_pb2.DATA_TYPE_F32)
        bad = mm_transposed_signature()
        bad.inputs[0].dims[1] = 5  # 8x5 @ 16x8: the op refuses
        wrong_output = mm_transposed_signature()
        # mm gives 8x8: out= would be resized (PyTorch warns on stderr).
        wrong_output.outputs[0].dims[0] = 4
        profile, unsupported = self.profile(
            [item_of(bogus), item_of(bad), item_of(add_inplace_signature()), item_of(wrong_output)]
        )
        self.assertEqual(len(profile.kernels), 1)
        self.assertEqual(len(unsupported), 3)
        self.assertRegex(
            unsupported[0],
            r"^aten::mm\.default\(f32\[8,16\].*->\(f32\[4,8\]\)"
            r".*: aten::mm\.out with out=: .*resize",
        )
        self.assertRegex(unsupported[1], r"^aten::mm\.default\(f32\[8,5\].*: .*RuntimeError")
        self.assertRegex(unsupported[2], r"^aten::no_such_op\.default.*no such aten op")

    def test_misplaced_buffer_after_the_runs_is_an_error(self):
        fast = self.fast

        class MovedTier:  # a fast tier whose pages "moved" during the runs
            spec = fast.spec
            description = fast.description

            def allocate(self, nbytes):
                return fast.allocate(nbytes)

            def verify(self, buffer, nbytes=None):
                raise _tiers.TierError("page 3 of a buffer meant for NUMA node 0 is on node 1")

        sig = add_inplace_signature()
        runner = profiler._KernelRunner(
            sig, profiler._plan_call(sig), MovedTier(), self.slow, "KEY"
        )
        timing = dict(warmup=1, min_reps=1, max_reps=1, max_spread=1.0, max_time_ms=1.0)
        with self.assertRaisesRegex(
            AutotmError, r"KEY config FS\|S: input 0 is not on " "numa:0: page 3 .* on node 1"
        ) as e:
            runner.measure(0b110, timing)
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)

    def test_cache_resumes_and_refuses_another_fingerprint(self):
        cache = os.path.join(self.tmp.name, "cache.json")
        items = [item_of(add_inplace_signature()), item_of(mm_transposed_signature())]
        first = self.profile(items[:1], cache_path=cache)
        self.assertEqual(first.measured_kernels, 1)
        progress = []
        second = self.profile(items, cache_path=cache, on_progress=progress.append)
        self.assertEqual((second.measured_kernels, second.cached_kernels), (1, 1))
        self.assertEqual(progress[-1].total_configs, 8)  # only mm's
        self.assertEqual(second.profile.bandwidths, first.profile.bandwidths)
        third = self.profile(items, cache_path=cache, on_progress=progress.append)
        self.assertEqual((third.measured_kernels, third.cached_kernels), (0, 2))
        self.assertEqual(progress[-1].total_configs, 0)
        self.assertEqual(third.profile.kernels, second.profile.kernels)

        stored = _json.load_profile(cache)
        stored.host_class.fingerprint = "cpu=another"
        _json.save_message(stored, cache)
        with self.assertRaisesRegex(AutotmError, "measured on \"cpu=another\"") as e:
            self.profile(items, cache_path=cache)
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)


def conv_selu_graph() -> graph_pb2.Graph:
    """x -> convolution -> y -> selu -> z, the batch pinned fast."""
    x, w, b = torch.rand(2, 3, 6, 6), torch.rand(4, 3, 3, 3), torch.rand(4)
    conv = describe(aten.convolution.default, x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    selu = selu_signature((2, 4, 6, 6))
    graph = graph_pb2.Graph(name="conv-selu")
    graph.tensors.add(
        id="x",
        size_bytes=x.numel() * 4,
        role=graph_pb2.TENSOR_ROLE_INPUT,
        fixed_tier=graph_pb2.TIER_FAST,
    )
    graph.tensors.add(id="w", size_bytes=w.numel() * 4, role=graph_pb2.TENSOR_ROLE_WEIGHT)
    graph.tensors.add(id="b", size_bytes=b.numel() * 4, role=graph_pb2.TENSOR_ROLE_WEIGHT)
    graph.tensors.add(id="y", size_bytes=2 * 4 * 36 * 4, role=graph_pb2.TENSOR_ROLE_ACTIVATION)
    graph.tensors.add(id="z", size_bytes=2 * 4 * 36 * 4, role=graph_pb2.TENSOR_ROLE_ACTIVATION)
    graph.kernels.add(id="conv", op=conv.op, inputs=["x", "w", "b"], outputs=["y"], signature=conv)
    graph.kernels.add(id="selu", op=selu.op, inputs=["y"], outputs=["z"], signature=selu)
    return graph


class CommandTest(unittest.TestCase):
    def test_profile_command_writes_the_profile_and_lists_what_it_lacks(self):
        parser = argparse.ArgumentParser(prog="autotm.torch")
        sub = parser.add_subparsers()
        help_text = profiler.register_cli(sub).format_help()
        self.assertIn("Exit status", help_text)
        self.assertIn("file:DIR", help_text)
        with tempfile.TemporaryDirectory() as tmp:
            graph_path = os.path.join(tmp, "g.graph.json")
            _json.save_message(conv_selu_graph(), graph_path)
            out = os.path.join(tmp, "g.profile.json")
            args = parser.parse_args(
                [
                    "profile",
                    "--graph",
                    graph_path,
                    "--slow",
                    f"file:{tmp}",
                    "--out",
                    out,
                    "--max-configs",
                    "1",
                    "--warmup",
                    "1",
                    "--min-reps",
                    "2",
                    "--max-reps",
                    "3",
                    "--max-time-ms",
                    "20",
                    "--copy-mib",
                    "1",
                    "--quiet",
                ]
            )
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                status = args.func(args)
            self.assertEqual(status, 3, stderr.getvalue())
            self.assertIn("NOT MEASURED", stderr.getvalue())
            # Too big for a one-entry table, and their outputs come from
            # PyTorch's allocator (no direct out= kernel): no separable cost
            # can be measured for either.
            self.assertIn("aten::selu.default(f32[2,4,6,6])", stderr.getvalue())
            self.assertIn("aten::convolution.default(f32[2,3,6,6]", stderr.getvalue())
            self.assertEqual(list(_json.load_profile(out).kernels), [])


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.server = start_server(self.tmp.name)
        self.address = self.server.address
        self.addCleanup(self.stop_server)
        self.slow_dir = os.path.join(self.tmp.name, "slow")
        os.mkdir(self.slow_dir)

    def stop_server(self):
        self.assertEqual(self.server.terminate(), 0)

    def test_profiles_what_the_host_class_lacks_and_uploads_it(self):
        graph = conv_selu_graph()
        log = io.StringIO()
        with Client(self.address) as client:
            work = client.get_work_list("torch-test", graph)
            self.assertEqual(
                [i.signature.op for i in work.items],
                ["aten::convolution.default", "aten::selu.default"],
            )
            run = profiler.run_profiler(
                client,
                "torch-test",
                graph,
                "numa:0",
                f"file:{self.slow_dir}",
                quiet=True,
                log=log,
                upload_batch=1,
                **QUICK,
            )
            self.assertEqual(run.unsupported, [], log.getvalue())
            self.assertEqual((run.work_items, run.measured_kernels), (2, 2))
            # conv: the batch is pinned fast and the output always fast
            # (composite out=), so 4 of 16; selu: output fast, 2 of 4.
            self.assertEqual(run.accepted, 4 + 2)
            self.assertEqual(list(client.get_work_list("torch-test", graph).items), [])
            stored = client.export_profile("torch-test")
            self.assertEqual(stored.host_class.fingerprint, run.profile.host_class.fingerprint)
            self.assertEqual(
                sorted(profiler.signature_key(k.signature) for k in stored.kernels),
                sorted(profiler.signature_key(s.signature) for s in work.items),
            )

            # Second run: nothing is missing, nothing is measured.
            again = profiler.run_profiler(
                self.address,
                "torch-test",
                graph,
                "numa:0",
                f"file:{self.slow_dir}",
                quiet=True,
                log=log,
                **QUICK,
            )
            self.assertIsNone(again.profile)
            self.assertEqual(again.work_items, 0)
            self.assertIn("nothing to profile", log.getvalue())

            # A host class measured elsewhere is refused before measuring.
            other = profile_pb2.Profile(
                host_class=profile_pb2.HostClass(
                    name="elsewhere", fingerprint="cpu=another machine"
                )
            )
            other.bandwidths.slow_to_fast_sync_gb_per_s = 1
            other.bandwidths.fast_to_slow_sync_gb_per_s = 1
            other.bandwidths.slow_to_fast_async_gb_per_s = 1
            other.bandwidths.fast_to_slow_async_gb_per_s = 1
            client.upload_profile(other)
            with self.assertRaisesRegex(AutotmError, "never mix") as e:
                profiler.run_profiler(
                    client,
                    "elsewhere",
                    graph,
                    "numa:0",
                    f"file:{self.slow_dir}",
                    quiet=True,
                    log=log,
                    **QUICK,
                )
            self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)


if __name__ == "__main__":
    unittest.main()
