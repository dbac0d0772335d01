"""autotm.Client against the real autotm-server (with its solve workers).

Each test class starts its own `autotm-server --listen 127.0.0.1:0` on a
fresh SQLite file in a temporary directory, reads the port from its
"autotm-server listening on HOST:PORT" line and stops it with SIGTERM at
the end, expecting exit code 0. Covered: profile upload (idempotent),
measurements, the agents' work list, PlanGraph and the plan cache, lookup,
jobs (create, get, watch with progress, cancel queued and running, list
with paging), health, and the error codes the C++ e2e tests provoke
(tests/e2e/profile_service_test.cc, placement_service_test.cc), including
UNAVAILABLE after the retries against a closed port.

Environment: AUTOTM_SERVER_BINARY (see server_process.py, which runs it),
AUTOTM_SOURCE_DIR (default: this checkout), AUTOTM_CLI_BINARY (optional,
default autotm beside the server's build directory: build/client/autotm;
the file interchange test is skipped without it). PYTHONPATH must hold the
built package (build/python).

  cd tests/python && PYTHONPATH=../../build/python \
      /usr/bin/python3 -m unittest -v client_test
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from typing import Optional, Sequence
import unittest

import grpc

import autotm
from autotm.v1 import graph_pb2
from autotm.v1 import job_pb2
from autotm.v1 import placement_service_pb2
from autotm.v1 import placement_service_pb2_grpc
from autotm.v1 import plan_pb2
from autotm.v1 import profile_pb2
from autotm.v1 import profile_service_pb2
from server_process import SERVER_BINARY
from server_process import ServerProcess
from server_process import start_server

SOURCE_DIR = pathlib.Path(
    os.environ.get('AUTOTM_SOURCE_DIR') or pathlib.Path(__file__).resolve().parents[2]
)
CLI_BINARY = pathlib.Path(
    os.environ.get('AUTOTM_CLI_BINARY') or SERVER_BINARY.parent.parent / 'client' / 'autotm'
)
TESTDATA = SOURCE_DIR / 'tests' / 'testdata'

Code = grpc.StatusCode
Job = job_pb2.SolveJob
MIB = 1 << 20
EXAMPLE_HOST = 'example-optane-like'
LONG_SOLVE_HOST = 'long-solve-host'


def free_port() -> int:
    """A port nobody listens on (just released by the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def example_graph() -> graph_pb2.Graph:
    return autotm.load_graph(TESTDATA / 'example_cnn.graph.json')


def example_profile() -> profile_pb2.Profile:
    return autotm.load_profile(TESTDATA / 'example_cnn.profile.json')


def renamed(profile: profile_pb2.Profile, name: str) -> profile_pb2.Profile:
    copy = profile_pb2.Profile()
    copy.CopyFrom(profile)
    copy.host_class.name = name
    return copy


def count_configs(profile: profile_pb2.Profile) -> int:
    return sum(len(kernel.configs) for kernel in profile.kernels)


def signature_key(signature: graph_pb2.KernelSignature) -> bytes:
    return signature.SerializeToString(deterministic=True)


def profile_table(profile: profile_pb2.Profile) -> dict:
    """{signature: {config: time_us}}."""
    return {
        signature_key(k.signature): {c.config: c.time_us for c in k.configs}
        for k in profile.kernels
    }


def unique_signatures(graph: graph_pb2.Graph) -> list:
    keys = []
    for kernel in graph.kernels:
        key = signature_key(kernel.signature)
        if key not in keys:
            keys.append(key)
    return keys


def measurement(
    signature: graph_pb2.KernelSignature, config: str, time_us: float, measurement_id: str
) -> profile_service_pb2.MeasurementEntry:
    return profile_service_pb2.MeasurementEntry(
        signature=signature, config=config, time_us=time_us, measurement_id=measurement_id
    )


def long_solve_graph() -> graph_pb2.Graph:
    """A graph whose sync plan at a tiny gap CBC cannot prove within minutes,
    so a job of it runs until its time limit or its cancellation: kernel k
    reads t(k-1), t(k-3), t(k-7), t(k-13) and writes tk; tensor t is
    (1 + 5t mod 7) MiB. LongSolveGraph() of tests/e2e/long_solve_graph.h,
    which says why it stays hard: change both together."""
    graph = graph_pb2.Graph(name='long-solve')
    kernels = 60
    for t in range(kernels + 1):
        graph.tensors.add(
            id=f't{t}',
            size_bytes=(1 + (5 * t) % 7) * MIB,
            role=(graph_pb2.TENSOR_ROLE_INPUT if t == 0 else graph_pb2.TENSOR_ROLE_ACTIVATION),
        )
    sizes = {tensor.id: tensor.size_bytes for tensor in graph.tensors}
    for k in range(1, kernels + 1):
        inputs = [f't{k - 1}'] + [f't{k - back}' for back in (3, 7, 13) if k - back >= 0]
        kernel = graph.kernels.add(id=f'k{k}', op='test_op', inputs=inputs, outputs=[f't{k}'])
        kernel.signature.op = 'test_op'
        kernel.signature.attributes['kernel'] = kernel.id
        for tensor in inputs:
            kernel.signature.inputs.add(dims=[sizes[tensor] // 4], dtype=graph_pb2.DATA_TYPE_F32)
        kernel.signature.outputs.add(dims=[sizes[f't{k}'] // 4], dtype=graph_pb2.DATA_TYPE_F32)
    return graph


def long_solve_profile(graph: graph_pb2.Graph) -> profile_pb2.Profile:
    """A full configuration table per kernel: base * (1 + 1.0 per slow input
    + 5.0 per slow output), base = 100 + 10 k us (Optane-like)."""
    profile = profile_pb2.Profile()
    profile.host_class.name = LONG_SOLVE_HOST
    profile.bandwidths.slow_to_fast_sync_gb_per_s = 29
    profile.bandwidths.fast_to_slow_sync_gb_per_s = 12
    profile.bandwidths.slow_to_fast_async_gb_per_s = 2
    profile.bandwidths.fast_to_slow_async_gb_per_s = 2.5
    for k, kernel in enumerate(graph.kernels):
        entry = profile.kernels.add()
        entry.signature.CopyFrom(kernel.signature)
        n_in, n_out = len(kernel.inputs), len(kernel.outputs)
        for mask in range(1 << (n_in + n_out)):
            slow = [bool(mask >> p & 1) for p in range(n_in + n_out)]
            config = (
                ''.join('S' if s else 'F' for s in slow[:n_in])
                + '|'
                + ''.join('S' if s else 'F' for s in slow[n_in:])
            )
            factor = 1 + sum(slow[:n_in]) * 1.0 + sum(slow[n_in:]) * 5.0
            entry.configs.add(config=config, time_us=(100.0 + 10 * k) * factor)
    return profile


LONG_SOLVE_GRAPH = long_solve_graph()
# A third of the unaligned peak, as the C++ tests' LongSolveBudget().
LONG_SOLVE_BUDGET = autotm.peak_live_bytes(LONG_SOLVE_GRAPH, alignment_bytes=0) // 3


class ServerTestCase(unittest.TestCase):
    """Starts one server for the class; SIGTERM must end it with exit 0."""

    SERVER_ARGS: Sequence[str] = ('--log-level', 'warn')

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if not SERVER_BINARY.exists():
            raise AssertionError(
                f'no server binary at {SERVER_BINARY}; set ' 'AUTOTM_SERVER_BINARY'
            )
        cls.directory = tempfile.mkdtemp(prefix='autotm_py_client_')
        cls.server = start_server(cls.directory, cls.SERVER_ARGS)
        cls.client = autotm.Client(cls.server.address, deadline=20)

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls.client.close()
            code = cls.server.terminate()
            if code != 0:
                raise AssertionError(
                    f'server exited with {code} after SIGTERM; ' f'log:\n{cls.server.log()}'
                )
        finally:
            cls.server.kill()
            shutil.rmtree(cls.directory, ignore_errors=True)
            super().tearDownClass()

    def assertCode(
        self, code: grpc.StatusCode, call, *args, contains: Optional[str] = None, **kwargs
    ) -> autotm.AutotmError:
        """`call(*args, **kwargs)` raises AutotmError with `code` (and text)."""
        with self.assertRaises(autotm.AutotmError) as raised:
            call(*args, **kwargs)
        error = raised.exception
        self.assertEqual(error.code, code, str(error))
        if contains is not None:
            self.assertIn(contains, error.message)
        self.assertIn(code.name, str(error))
        return error

    def wait_running_with_incumbent(self, job_id: str) -> job_pb2.SolveJob:
        """Follows the job's stream until it runs with an incumbent."""
        for job in self.client.job_updates(job_id, deadline=60):
            self.assertLessEqual(
                job.state,
                Job.RUNNING,
                f'{job_id} ended before it ran with an incumbent: {job.error}',
            )
            if job.state == Job.RUNNING and job.incumbent_us > 0:
                return job
        self.fail(f'the watch of {job_id} ended early')

    def long_job(self, **kwargs) -> job_pb2.SolveJob:
        """A job that runs until its 60 s limit or its cancellation."""
        return self.client.create_job(
            LONG_SOLVE_GRAPH,
            LONG_SOLVE_HOST,
            LONG_SOLVE_BUDGET,
            time_limit=60,
            relative_gap=1e-9,
            **kwargs,
        )


class ProfileServiceTest(ServerTestCase):
    """ProfileService and health; each test uses its own host classes."""

    def setUp(self) -> None:
        self.profile = example_profile()

    def test_health_is_serving(self) -> None:
        self.assertIs(self.client.health(), True)

    def test_upload_profile_is_idempotent(self) -> None:
        profile = renamed(self.profile, 'idempotent-host')
        configs = count_configs(profile)
        first = self.client.upload_profile(profile)
        self.assertEqual(first.accepted, configs)
        self.assertEqual(first.duplicates, 0)
        self.assertGreater(first.profile_version, 0)

        summary = self.client.get_host_class('idempotent-host')
        self.assertEqual(summary.host_class.fingerprint, profile.host_class.fingerprint)
        self.assertEqual(summary.profile_version, first.profile_version)
        self.assertEqual(summary.signatures, len(profile.kernels))
        self.assertEqual(summary.configs, configs)
        self.assertEqual(summary.measurements, configs)
        names = [h.host_class.name for h in self.client.list_host_classes()]
        self.assertIn('idempotent-host', names)
        self.assertEqual(names, sorted(names))

        exported = self.client.export_profile('idempotent-host')
        self.assertEqual(exported.host_class, profile.host_class)
        self.assertEqual(exported.bandwidths, profile.bandwidths)
        self.assertEqual(profile_table(exported), profile_table(profile))

        # Again, from the JSON file path and from a dict: nothing changes.
        again = self.client.upload_profile(profile)
        self.assertEqual(
            (again.accepted, again.duplicates, again.profile_version),
            (0, configs, first.profile_version),
        )
        path = os.path.join(self.directory, 'idempotent.profile.json')
        autotm.save_message(exported, path)
        from_file = self.client.upload_profile(path)
        self.assertEqual(
            (from_file.accepted, from_file.profile_version), (0, first.profile_version)
        )
        self.assertEqual(self.client.get_host_class('idempotent-host').measurements, configs)

    def test_measurements_are_served_as_median_and_streamed(self) -> None:
        profile = renamed(self.profile, 'median-host')
        self.client.upload_profile(profile)
        kernel = profile.kernels[0]
        config, t = kernel.configs[0].config, kernel.configs[0].time_us
        key = signature_key(kernel.signature)

        request = profile_service_pb2.UploadMeasurementsRequest(
            host_class=profile.host_class,
            entries=[
                measurement(kernel.signature, config, 5 * t, 'a/1/0'),
                measurement(kernel.signature, config, 7 * t, 'a/1/1'),
            ],
        )
        uploaded = self.client.upload_measurements(request)
        self.assertEqual((uploaded.accepted, uploaded.duplicates), (2, 0))
        table = profile_table(self.client.export_profile('median-host'))
        self.assertEqual(table[key][config], 5 * t)  # median of {t, 5t, 7t}
        resent = self.client.upload_measurements(request)
        self.assertEqual((resent.accepted, resent.duplicates), (0, 2))
        self.assertEqual(resent.profile_version, uploaded.profile_version)

        batches = []
        for b in range(3):
            batches.append(
                profile_service_pb2.UploadMeasurementsRequest(
                    host_class=profile.host_class,
                    entries=[
                        measurement(kernel.signature, config, 100 + i, f's/{b}/{i}')
                        for i in range(4)
                    ],
                )
            )
        streamed = self.client.stream_measurements(batches)
        self.assertEqual((streamed.accepted, streamed.duplicates), (12, 0))
        # A generator is streamed too (once, without retries).
        again = self.client.stream_measurements(b for b in batches)
        self.assertEqual((again.accepted, again.duplicates), (0, 12))

        # A malformed configuration in the second batch: INVALID_ARGUMENT naming
        # the entry; the first batch stays stored.
        bad = [
            profile_service_pb2.UploadMeasurementsRequest(
                host_class=profile.host_class,
                entries=[measurement(kernel.signature, config, 101.5, 't/0')],
            ),
            profile_service_pb2.UploadMeasurementsRequest(
                host_class=profile.host_class,
                entries=[measurement(kernel.signature, 'Q', 1, 't/1')],
            ),
        ]
        self.assertCode(
            Code.INVALID_ARGUMENT, self.client.stream_measurements, bad, contains='entries[0]'
        )
        self.assertEqual(
            self.client.get_host_class('median-host').measurements,
            count_configs(profile) + 2 + 12 + 1,
        )

    def test_work_list_follows_submitted_graphs_and_uploads(self) -> None:
        graph = example_graph()
        keys = unique_signatures(graph)
        empty = self.client.get_work_list('fresh')
        self.assertEqual((empty.graphs, len(empty.items)), (0, 0))

        # A plan request for a host class nobody profiled fails but records the
        # graph: the work list then names every signature, in order of use.
        self.assertCode(Code.NOT_FOUND, self.client.plan, graph, 'fresh', MIB, deadline=10)
        missing = self.client.get_work_list('fresh')
        self.assertEqual(missing.graphs, 1)
        self.assertEqual(missing.host_class.name, 'fresh')
        self.assertEqual(missing.host_class.fingerprint, '')
        self.assertEqual([signature_key(i.signature) for i in missing.items], keys)
        for item in missing.items:
            self.assertEqual(
                len(item.usages[0].first_position),
                len(item.signature.inputs) + len(item.signature.outputs),
            )

        # Two signatures measured: the rest is missing; all: nothing.
        part = renamed(self.profile, 'fresh')
        del part.kernels[:]
        part.kernels.extend(
            k for k in self.profile.kernels if signature_key(k.signature) in keys[:2]
        )
        self.assertEqual(len(part.kernels), 2)
        self.client.upload_profile(part)
        rest = self.client.get_work_list('fresh')
        self.assertEqual(rest.host_class.fingerprint, self.profile.host_class.fingerprint)
        self.assertEqual([signature_key(i.signature) for i in rest.items], keys[2:])
        self.client.upload_profile(renamed(self.profile, 'fresh'))
        self.assertEqual(len(self.client.get_work_list('fresh').items), 0)

        # An inline graph (here: its file) is recorded for another host class.
        inline = self.client.get_work_list('fresh-inline', TESTDATA / 'example_cnn.graph.json')
        self.assertEqual([signature_key(i.signature) for i in inline.items], keys)
        self.assertEqual(self.client.get_work_list('fresh-inline').graphs, 1)

    def test_profile_error_codes(self) -> None:
        profile = renamed(self.profile, 'errors-host')
        self.client.upload_profile(profile)
        signature = profile.kernels[0].signature
        config = profile.kernels[0].configs[0].config

        other = renamed(profile, 'errors-host')
        other.host_class.fingerprint = 'another machine'
        self.assertCode(
            Code.FAILED_PRECONDITION, self.client.upload_profile, other, contains='fingerprint'
        )

        for call in (
            self.client.get_host_class,
            self.client.export_profile,
            self.client.delete_host_class,
        ):
            self.assertCode(Code.NOT_FOUND, call, 'no-such-host')
            self.assertCode(Code.INVALID_ARGUMENT, call, '')
        self.assertCode(
            Code.INVALID_ARGUMENT, self.client.upload_profile, renamed(profile, ''), contains='name'
        )
        self.assertCode(Code.INVALID_ARGUMENT, self.client.get_work_list, '')

        no_op = measurement(signature, config, 1, 'x/0')
        no_op.signature.ClearField('op')
        bad_entries = [
            (measurement(signature, config, -1, 'x/1'), 'time_us'),
            (measurement(signature, config, float('nan'), 'x/2'), 'time_us'),
            (measurement(signature, 'FX|F', 1, 'x/3'), 'entries[1]'),
            (no_op, 'signature.op'),
        ]
        for entry, text in bad_entries:
            request = profile_service_pb2.UploadMeasurementsRequest(
                host_class=profile.host_class,
                entries=[measurement(signature, config, 1, 'ok/0'), entry],
            )
            self.assertCode(
                Code.INVALID_ARGUMENT, self.client.upload_measurements, request, contains=text
            )
        self.assertEqual(
            self.client.get_host_class('errors-host').measurements,
            count_configs(profile),
            'nothing of a rejected request is stored',
        )

        fresh = profile_service_pb2.UploadMeasurementsRequest(
            entries=[measurement(signature, config, 1, 'f/0')]
        )
        fresh.host_class.name = 'fresh-without-bandwidths'
        self.assertCode(
            Code.INVALID_ARGUMENT, self.client.upload_measurements, fresh, contains='bandwidths'
        )

        # An invalid inline graph names what is wrong.
        graph = autotm.load_graph(TESTDATA / 'bad_unknown_tensor.graph.json')
        self.assertCode(Code.INVALID_ARGUMENT, self.client.get_work_list, 'errors-host', graph)
        # Files: missing (NOT_FOUND) and not JSON (INVALID_ARGUMENT, with the
        # position), before anything is sent.
        self.assertCode(
            Code.NOT_FOUND,
            self.client.upload_profile,
            os.path.join(self.directory, 'missing.json'),
            contains='missing.json',
        )
        self.assertCode(
            Code.INVALID_ARGUMENT,
            self.client.plan,
            TESTDATA / 'bad_malformed.graph.json',
            'errors-host',
            MIB,
            contains='bad_malformed.graph.json:',
        )

    def test_delete_host_class(self) -> None:
        self.client.upload_profile(renamed(self.profile, 'doomed'))
        self.assertIsNone(self.client.delete_host_class('doomed'))
        names = [h.host_class.name for h in self.client.list_host_classes()]
        self.assertNotIn('doomed', names)
        self.assertCode(Code.NOT_FOUND, self.client.get_host_class, 'doomed')
        self.assertCode(Code.NOT_FOUND, self.client.delete_host_class, 'doomed')
        # The name is free again, even for another fingerprint.
        other = renamed(self.profile, 'doomed')
        other.host_class.fingerprint = 'another machine'
        self.assertEqual(self.client.upload_profile(other).accepted, count_configs(other))


class PlacementServiceTest(ServerTestCase):
    """PlacementService with one solve worker."""

    SERVER_ARGS = ('--log-level', 'warn', '--workers', '1')

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.graph = example_graph()
        cls.profile = example_profile()
        cls.client.upload_profile(cls.profile)
        cls.client.upload_profile(long_solve_profile(LONG_SOLVE_GRAPH))

    def test_plan_then_cache_hit_returns_the_same_plan(self) -> None:
        budget = autotm.peak_live_bytes(self.graph, alignment_bytes=0) // 2
        self.assertCode(
            Code.NOT_FOUND,
            self.client.plan,
            self.graph,
            EXAMPLE_HOST,
            budget,
            time_limit=20,
            solve_if_missing=False,
            contains='no plan cached',
        )
        first = self.client.plan(self.graph, EXAMPLE_HOST, budget, time_limit=20, deadline=60)
        self.assertEqual(first.budget_bytes, budget)
        self.assertEqual(first.method, plan_pb2.METHOD_SYNCHRONOUS)
        self.assertEqual(len(first.kernels), len(self.graph.kernels))
        self.assertLessEqual(first.peak_fast_bytes, budget)
        self.assertNotEqual(first.stats.termination, plan_pb2.TERMINATION_CANCELLED)

        start = time.monotonic()
        cached = self.client.lookup_plan(
            self.graph, EXAMPLE_HOST, budget, method='sync', time_limit='20s'
        )
        again = self.client.plan(
            self.graph, EXAMPLE_HOST, budget, parameters={'timeLimitSeconds': 20}
        )
        self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(cached.SerializeToString(), first.SerializeToString())
        self.assertEqual(again.SerializeToString(), first.SerializeToString())
        # Other parameters are another cache entry.
        self.assertCode(
            Code.NOT_FOUND,
            self.client.lookup_plan,
            self.graph,
            EXAMPLE_HOST,
            budget,
            method='static',
            time_limit=20,
        )

        # The stored graph, by its digest (from the job PlanGraph queued).
        digests = {
            job.graph_digest for job in self.client.iter_jobs() if job.budgets_bytes == [budget]
        }
        self.assertEqual(len(digests), 1)
        digest = digests.pop()
        self.assertTrue(digest.startswith('sha256:'))
        by_digest = self.client.plan(digest, EXAMPLE_HOST, budget, time_limit=20)
        self.assertEqual(by_digest.SerializeToString(), first.SerializeToString())
        self.assertCode(
            Code.INVALID_ARGUMENT, self.client.plan, digest, EXAMPLE_HOST, '50%', contains='digest'
        )

    def test_served_plans_are_verified_against_the_graph_sent(self) -> None:
        # Issue 17: a served plan is checked before plan() returns it.
        from autotm._verify import verify_plan_structure

        # Its own cache entry (time_limit is part of the key), so the other
        # tests' first plan() is still a miss.
        budget = autotm.peak_live_bytes(self.graph, alignment_bytes=0) // 2
        plan = self.client.plan(self.graph, EXAMPLE_HOST, budget, time_limit=21, deadline=60)
        verify_plan_structure(self.graph, plan, budget)

        def corrupt(change) -> plan_pb2.Plan:
            bad = plan_pb2.Plan()
            bad.CopyFrom(plan)
            change(bad)
            return bad

        fast = next(t for t in plan.tensors if t.fast_intervals)
        cases = {
            'budget': (plan, budget // 4),
            'tensor placement #0 is for tensor': (
                corrupt(lambda p: setattr(p.tensors[0], 'tensor_id', 'other')),
                budget,
            ),
            'plan config': (
                corrupt(lambda p: setattr(p.kernels[0], 'config', 'S' * 9 + '|S')),
                budget,
            ),
            'no fast-pool offsets': (corrupt(lambda p: setattr(p, 'alignment_bytes', 0)), budget),
            'is not a multiple of the alignment': (
                corrupt(
                    lambda p: setattr(
                        next(t for t in p.tensors if t.tensor_id == fast.tensor_id).fast_intervals[
                            0
                        ],
                        'offset_bytes',
                        1,
                    )
                ),
                budget,
            ),
        }
        for contains, (bad, bad_budget) in cases.items():
            with self.subTest(contains):
                with self.assertRaises(autotm.AutotmError) as raised:
                    verify_plan_structure(self.graph, bad, bad_budget)
                self.assertEqual(raised.exception.code, Code.INTERNAL)
                self.assertIn(contains, raised.exception.message)

        # plan() and lookup_plan() refuse what the server serves when it is
        # wrong: here the server's answer is replaced by a corrupt one.
        wrong = corrupt(lambda p: setattr(p, 'peak_fast_bytes', p.peak_fast_bytes + 1))
        real_call = self.client._call
        self.client._call = lambda *args, **kwargs: wrong
        try:
            for call in (self.client.plan, self.client.lookup_plan):
                self.assertCode(
                    Code.INTERNAL,
                    call,
                    self.graph,
                    EXAMPLE_HOST,
                    budget,
                    time_limit=20,
                    contains='fails verification against the graph sent',
                )
        finally:
            self.client._call = real_call

    def test_infeasible_budget_is_an_answer_not_an_error(self) -> None:
        # Issue 17: no plan fits 1 KiB (every kernel's operands exceed it).
        plan = self.client.plan(self.graph, EXAMPLE_HOST, 1024, time_limit=22, deadline=60)
        self.assertEqual(plan.stats.termination, plan_pb2.TERMINATION_INFEASIBLE)
        self.assertEqual(plan.budget_bytes, 1024)
        self.assertEqual(len(plan.tensors), 0)
        self.assertIn('job-', plan.no_plan_reason)
        # An INFEASIBLE answer that carries a plan is refused.
        wrong = plan_pb2.Plan()
        wrong.CopyFrom(plan)
        wrong.tensors.add(tensor_id='x')
        real_call = self.client._call
        self.client._call = lambda *args, **kwargs: wrong
        try:
            self.assertCode(
                Code.INTERNAL,
                self.client.plan,
                self.graph,
                EXAMPLE_HOST,
                1024,
                contains='INFEASIBLE with a plan',
            )
        finally:
            self.client._call = real_call

    def test_plan_files_and_budgets_match_the_cli(self) -> None:
        graph_path = TESTDATA / 'example_cnn.graph.json'
        plan = self.client.plan(graph_path, EXAMPLE_HOST, '40%', method='all-slow')
        self.assertEqual(plan.method, plan_pb2.METHOD_ALL_SLOW)
        self.assertEqual(
            plan.budget_bytes, autotm.parse_budget('40%', autotm.peak_live_bytes(self.graph))
        )
        path = os.path.join(self.directory, 'all_slow.plan.json')
        autotm.save_plan(plan, path)
        self.assertEqual(autotm.load_plan(path), plan)
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.endswith('}\n'))
        self.assertIn('\n  "graphName": "example-cnn-bs32",\n', text)
        self.assertIn('"method": "METHOD_ALL_SLOW"', text)

        if not os.access(CLI_BINARY, os.X_OK):
            self.skipTest(f'no autotm CLI at {CLI_BINARY} (AUTOTM_CLI_BINARY)')
        profile_path = os.path.join(self.directory, 'exported.profile.json')
        autotm.save_message(self.client.export_profile(EXAMPLE_HOST), profile_path)
        # The C++ CLI reads what Python wrote...
        verified = subprocess.run(
            [
                str(CLI_BINARY),
                'verify',
                '--graph',
                str(graph_path),
                '--profile',
                profile_path,
                '--plan',
                path,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # ... and "40%" means the same bytes to both.
        cli_plan = os.path.join(self.directory, 'cli.plan.json')
        solved = subprocess.run(
            [
                str(CLI_BINARY),
                'solve',
                '--graph',
                str(graph_path),
                '--profile',
                profile_path,
                '--budget',
                '40%',
                '--variant',
                'all-slow',
                '--out',
                cli_plan,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(solved.returncode, 0, solved.stdout + solved.stderr)
        self.assertEqual(autotm.load_plan(cli_plan).budget_bytes, plan.budget_bytes)

    def run_cli_plan(
        self, graph_path: str, host: str, budget: str, time_limit: str, out: str, *flags: str
    ) -> None:
        """`autotm plan` (the C++ client) against this server, writing `out`."""
        run = subprocess.run(
            [str(CLI_BINARY), 'plan', '--server', self.server.address, '--graph', graph_path]
            + ['--host-class', host, '--budget', budget, '--time-limit', time_limit]
            + ['--out', out, *flags],
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_recompute_is_carried_and_cached_apart(self) -> None:
        # Issue 22: SolveParameters.recompute through PlanGraph, GetPlan,
        # CreateSolveJob and the C++ CLI. The optane-2019 cost model prices
        # every kernel separably, so at 40% the example CNN's ILP re-runs.
        if not os.access(CLI_BINARY, os.X_OK):
            self.skipTest(f'no autotm CLI at {CLI_BINARY} (AUTOTM_CLI_BINARY)')
        graph_path = str(TESTDATA / 'example_cnn.graph.json')
        synth_path = os.path.join(self.directory, 'synth.profile.json')
        subprocess.run(
            [str(CLI_BINARY), 'profile', 'synth', '--graph', graph_path, '--out', synth_path],
            check=True,
            capture_output=True,
            timeout=60,
        )
        host = 'example-synth'
        self.client.upload_profile(renamed(autotm.load_profile(synth_path), host))
        plain = self.client.plan(self.graph, host, '40%', time_limit=20, deadline=60)
        rerun = self.client.plan(
            self.graph, host, '40%', time_limit=20, recompute='auto', deadline=60
        )
        self.assertEqual(len(plain.recomputes), 0)
        self.assertEqual(rerun.stats.termination, plan_pb2.TERMINATION_OPTIMAL)
        self.assertGreater(len(rerun.recomputes), 0)
        self.assertGreater(rerun.recompute_time_us, 0)
        self.assertLess(rerun.predicted_time_us, plain.predicted_time_us)
        # Two cache entries: each request finds its own plan; an explicit
        # "none" is the default's entry.
        for recompute, expected in (('auto', rerun), ('none', plain), (None, plain)):
            cached = self.client.lookup_plan(
                self.graph, host, '40%', time_limit=20, recompute=recompute
            )
            self.assertEqual(cached.SerializeToString(), expected.SerializeToString(), recompute)
        modes = sorted(
            job.parameters.recompute for job in self.client.iter_jobs() if job.host_class == host
        )
        self.assertEqual(modes, [job_pb2.RECOMPUTE_MODE_NONE, job_pb2.RECOMPUTE_MODE_AUTO])
        self.assertCode(
            Code.INVALID_ARGUMENT,
            self.client.plan,
            self.graph,
            host,
            '40%',
            recompute='sometimes',
            contains='recompute mode',
        )
        # The C++ client (`autotm plan --recompute auto`) hits the same entry.
        out = os.path.join(self.directory, 'remote_rerun.plan.json')
        self.run_cli_plan(graph_path, host, '40%', '20s', out, '--recompute', 'auto')
        self.assertEqual(len(autotm.load_plan(out).recomputes), len(rerun.recomputes))
        self.assertEqual(autotm.load_plan(out).predicted_time_us, rerun.predicted_time_us)

    def test_repetition_is_carried_and_cached_apart(self) -> None:
        # SolveParameters.repetition (issue 21) through PlanGraph, GetPlan,
        # the job's parameters and the C++ CLI: the "auto" request is its own
        # cache entry (a second solve, then hits), "off" is the default's.
        host = 'example-repetition'
        self.client.upload_profile(renamed(self.profile, host))
        plain = self.client.plan(self.graph, host, '45%', time_limit=10, deadline=60)
        tied = autotm.solve_parameters(time_limit=10, repetition='auto')
        repeated = self.client.plan(self.graph, host, '45%', parameters=tied, deadline=60)
        self.assertEqual(repeated.budget_bytes, plain.budget_bytes)
        jobs = [job for job in self.client.iter_jobs() if job.host_class == host]
        self.assertEqual(
            sorted(job.parameters.repetition for job in jobs),
            [job_pb2.REPETITION_MODE_OFF, job_pb2.REPETITION_MODE_AUTO],
        )
        for parameters, expected in (
            (tied, repeated),
            (autotm.solve_parameters(time_limit=10, repetition=False), plain),
            (autotm.solve_parameters(time_limit=10), plain),
        ):
            cached = self.client.lookup_plan(self.graph, host, '45%', parameters=parameters)
            self.assertEqual(cached.SerializeToString(), expected.SerializeToString())
        with self.assertRaisesRegex(autotm.AutotmError, 'repetition mode'):
            autotm.solve_parameters(repetition='sometimes')
        if not os.access(CLI_BINARY, os.X_OK):
            return
        out = os.path.join(self.directory, 'remote_repetition.plan.json')
        self.run_cli_plan(
            str(TESTDATA / 'example_cnn.graph.json'),
            host,
            '45%',
            '10s',
            out,
            '--repetition',
            'auto',
        )
        self.assertEqual(autotm.load_plan(out).SerializeToString(), repeated.SerializeToString())
        self.assertEqual(
            len([job for job in self.client.iter_jobs() if job.host_class == host]),
            2,
            'the CLI hit the auto entry',
        )

    def test_job_with_two_budgets_succeeds_with_a_plan_each(self) -> None:
        seen = []
        job = self.client.create_job(
            self.graph, EXAMPLE_HOST, ['45%', '35%'], time_limit=2, priority=3
        )
        self.assertIn(job.state, (Job.QUEUED, Job.RUNNING))
        self.assertEqual(job.priority, 3)
        self.assertEqual(len(job.budgets_bytes), 2)
        done = self.client.watch_job(job.id, seen.append, deadline=60)
        self.assertEqual(done.state, Job.SUCCEEDED, done.error)
        self.assertTrue(autotm.is_final(done))
        self.assertEqual(done.budgets_done, 2)
        self.assertEqual(len(done.plan_keys), 2)
        self.assertEqual(seen[-1], done)
        self.assertEqual([u.state for u in seen], sorted(u.state for u in seen))
        self.assertEqual(self.client.get_job(job.id), done)
        for budget in job.budgets_bytes:
            plan = self.client.lookup_plan(self.graph, EXAMPLE_HOST, budget, time_limit=2)
            self.assertEqual(plan.budget_bytes, budget)
        # Cancelling a finished job changes nothing.
        self.assertEqual(self.client.cancel_job(job.id).state, Job.SUCCEEDED)

    def test_watch_progress_and_cancel_queued_and_running_jobs(self) -> None:
        running = self.long_job()
        updates = []
        cancelled_at = []

        def on_update(job: job_pb2.SolveJob) -> None:
            updates.append(job)
            if job.state == Job.RUNNING and job.incumbent_us > 0 and not cancelled_at:
                # With one worker busy, the next job waits in the queue; cancelled
                # there, it never runs.
                queued = self.client.create_job(self.graph, EXAMPLE_HOST, 8 * MIB)
                self.assertEqual(queued.state, Job.QUEUED)
                never_ran = self.client.cancel_job(queued.id)
                self.assertEqual(never_ran.state, Job.CANCELLED)
                self.assertEqual(self.client.get_job(queued.id).start_time_us, 0)
                cancelled_at.append(time.monotonic())
                self.client.cancel_job(job.id)

        final = self.client.watch_job(running.id, on_update, deadline=60)
        self.assertTrue(cancelled_at, 'never saw the job run with an incumbent')
        self.assertLess(time.monotonic() - cancelled_at[0], 3)
        self.assertEqual(final.state, Job.CANCELLED)
        self.assertEqual(len(final.plan_keys), 1, 'the best plan so far is kept')
        self.assertGreater(final.start_time_us, 0)
        states = [u.state for u in updates]
        self.assertEqual(states, sorted(states))
        progress = [u for u in updates if u.state == Job.RUNNING]
        self.assertTrue(any(u.incumbent_us > 0 and u.bound_us > 0 for u in progress))
        self.assertEqual(self.client.cancel_job(running.id).state, Job.CANCELLED)

    def test_list_jobs_newest_first_with_paging(self) -> None:
        created = [
            self.client.create_job(self.graph, EXAMPLE_HOST, budget, method='all-slow')
            for budget in (7 * MIB, 6 * MIB, 5 * MIB)
        ]
        for job in created:
            self.client.watch_job(job.id, deadline=30)
        pages = []
        token = ''
        while True:
            page = self.client.list_jobs(page_size=2, page_token=token)
            self.assertLessEqual(len(page.jobs), 2)
            pages.append(list(page.jobs))
            token = page.next_page_token
            if not token:
                break
        jobs = [job for page in pages for job in page]
        self.assertGreaterEqual(len(pages), 2)
        ids = [job.id for job in jobs]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(
            [j.sequence for j in jobs], sorted((j.sequence for j in jobs), reverse=True)
        )
        self.assertEqual(ids[:3], [job.id for job in reversed(created)])
        self.assertEqual([j.id for j in self.client.iter_jobs(page_size=1)], ids)

        succeeded = list(self.client.iter_jobs('succeeded', page_size=1))
        self.assertTrue(all(j.state == Job.SUCCEEDED for j in succeeded))
        self.assertTrue({j.id for j in created} <= {j.id for j in succeeded})
        self.assertEqual(
            [j.id for j in self.client.iter_jobs(Job.SUCCEEDED)], [j.id for j in succeeded]
        )

        self.assertCode(Code.INVALID_ARGUMENT, self.client.list_jobs, page_size=-1)
        self.assertCode(Code.INVALID_ARGUMENT, self.client.list_jobs, page_size=1001)
        self.assertCode(Code.INVALID_ARGUMENT, self.client.list_jobs, page_token='garbage')
        self.assertCode(Code.INVALID_ARGUMENT, self.client.list_jobs, 'sleeping')

    def test_plan_deadline_returns_best_plan_or_deadline_exceeded(self) -> None:
        # While the only worker is busy the solve waits in the queue: nothing
        # within 300 ms is DEADLINE_EXCEEDED.
        blocker = self.long_job()
        self.wait_running_with_incumbent(blocker.id)
        error = self.assertCode(
            Code.DEADLINE_EXCEEDED,
            self.client.plan,
            self.graph,
            EXAMPLE_HOST,
            10 * MIB,
            deadline=0.3,
        )
        self.assertIn(self.server.address, error.message)
        self.client.cancel_job(blocker.id)
        self.assertEqual(self.client.watch_job(blocker.id, deadline=30).state, Job.CANCELLED)
        # A solve that cannot prove its gap within its limit: the best plan so
        # far, cut short at the deadline.
        start = time.monotonic()
        plan = self.client.plan(
            LONG_SOLVE_GRAPH,
            LONG_SOLVE_HOST,
            LONG_SOLVE_BUDGET + 4096,
            relative_gap=1e-9,
            time_limit=60,
            deadline=4,
        )
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(plan.stats.termination, plan_pb2.TERMINATION_CANCELLED)
        self.assertGreater(plan.stats.relative_gap, 0)
        self.assertLessEqual(plan.peak_fast_bytes, LONG_SOLVE_BUDGET + 4096)

    def test_placement_error_codes(self) -> None:
        self.assertCode(Code.INVALID_ARGUMENT, self.client.create_job, self.graph, EXAMPLE_HOST, [])
        self.assertCode(
            Code.INVALID_ARGUMENT,
            self.client.create_job,
            TESTDATA / 'bad_unknown_tensor.graph.json',
            EXAMPLE_HOST,
            8 * MIB,
        )
        self.assertCode(
            Code.INVALID_ARGUMENT,
            self.client.create_job,
            self.graph,
            EXAMPLE_HOST,
            8 * MIB,
            relative_gap=2,
        )
        self.assertCode(
            Code.INVALID_ARGUMENT,
            self.client.plan,
            TESTDATA / 'bad_unknown_tensor.graph.json',
            EXAMPLE_HOST,
            8 * MIB,
        )
        self.assertCode(Code.NOT_FOUND, self.client.create_job, self.graph, 'no-such-host', 8 * MIB)
        self.assertCode(
            Code.NOT_FOUND, self.client.create_job, 'sha256:' + '0' * 64, EXAMPLE_HOST, 8 * MIB
        )
        # The example graph against the long solve's profile: nothing covered;
        # against a profile lacking one kernel: that one is named.
        self.assertCode(
            Code.FAILED_PRECONDITION,
            self.client.create_job,
            self.graph,
            LONG_SOLVE_HOST,
            8 * MIB,
            contains='conv2d',
        )
        lacking = autotm.load_profile(TESTDATA / 'bad_missing_kernel.profile.json')
        lacking.host_class.name = 'lacking-host'
        self.client.upload_profile(lacking)
        self.assertCode(
            Code.FAILED_PRECONDITION, self.client.plan, self.graph, 'lacking-host', 8 * MIB
        )
        for call in (self.client.get_job, self.client.cancel_job, self.client.watch_job):
            self.assertCode(Code.NOT_FOUND, call, 'job-nope')
        self.assertCode(
            Code.NOT_FOUND, self.client.lookup_plan, self.graph, 'no-such-host', 8 * MIB
        )
        # Caught on the client, before anything is sent.
        self.assertCode(Code.INVALID_ARGUMENT, self.client.plan, self.graph, EXAMPLE_HOST, '4G')
        self.assertCode(Code.INVALID_ARGUMENT, self.client.plan, self.graph, EXAMPLE_HOST, -1)
        self.assertCode(
            Code.INVALID_ARGUMENT, self.client.plan, self.graph, EXAMPLE_HOST, MIB, method='fastest'
        )


def repeated(graph: graph_pb2.Graph, copies: int) -> graph_pb2.Graph:
    """`copies` of `graph` one after another, ids prefixed by the copy: the
    same signatures (the example profile covers them), `copies` times the
    bytes."""
    out = graph_pb2.Graph(name=f'{graph.name}-x{copies}')
    for c in range(copies):
        prefix = f'c{c}/'
        for tensor in graph.tensors:
            t = out.tensors.add()
            t.CopyFrom(tensor)
            t.id = prefix + tensor.id
        for kernel in graph.kernels:
            k = out.kernels.add()
            k.CopyFrom(kernel)
            k.id = prefix + kernel.id
            k.inputs[:] = [prefix + name for name in kernel.inputs]
            k.outputs[:] = [prefix + name for name in kernel.outputs]
    return out


class BigGraphTest(ServerTestCase):
    """Issue 19: digest first, and graphs and plans over --max-message-bytes
    by UploadGraph and StreamPlan (the client switches by itself)."""

    LIMIT = 64 << 10
    SERVER_ARGS = ('--log-level', 'warn', '--max-message-bytes', str(LIMIT))

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.client.close()
        cls.client = autotm.Client(cls.server.address, deadline=20, max_message_bytes=cls.LIMIT)
        cls.client.upload_profile(example_profile())

    def test_digest_first_then_streams_over_the_limit(self) -> None:
        self.assertEqual(self.client.server_info().max_message_bytes, self.LIMIT)
        graph = example_graph()
        budget = autotm.peak_live_bytes(graph, alignment_bytes=0) // 2
        digest = autotm.graph_digest(graph)
        # By digest before the server has the graph: the documented answer.
        self.assertCode(
            Code.NOT_FOUND,
            self.client.plan,
            digest,
            EXAMPLE_HOST,
            budget,
            method='all-slow',
            contains='graph.digest: no stored graph',
        )
        first = self.client.plan(graph, EXAMPLE_HOST, budget, method='all-slow')
        # The server stored the graph under the digest computed here.
        self.assertIn(digest, {job.graph_digest for job in self.client.iter_jobs()})
        by_digest = self.client.plan(digest, EXAMPLE_HOST, budget, method='all-slow')
        self.assertEqual(by_digest.SerializeToString(), first.SerializeToString())

        big = repeated(graph, 16)
        self.assertGreater(big.ByteSize(), 2 * self.LIMIT)
        big_budget = autotm.peak_live_bytes(big, alignment_bytes=0) // 2
        plan = self.client.plan(big, EXAMPLE_HOST, big_budget, method='all-slow')
        self.assertGreater(plan.ByteSize(), self.LIMIT)
        self.assertEqual(len(plan.tensors), len(big.tensors))
        looked_up = self.client.lookup_plan(big, EXAMPLE_HOST, big_budget, method='all-slow')
        self.assertEqual(looked_up.SerializeToString(), plan.SerializeToString())
        # The same inline request without the client's switches: gRPC
        # refuses it; by digest the server names StreamPlan.
        request = placement_service_pb2.PlanGraphRequest(
            graph=placement_service_pb2.GraphRef(inline_graph=big),
            host_class=EXAMPLE_HOST,
            budget_bytes=big_budget,
            parameters=autotm.solve_parameters('all-slow'),
        )
        with grpc.insecure_channel(self.server.address) as channel:
            stub = placement_service_pb2_grpc.PlacementServiceStub(channel)
            with self.assertRaises(grpc.RpcError) as raised:
                stub.PlanGraph(request, timeout=20)
            self.assertEqual(raised.exception.code(), Code.RESOURCE_EXHAUSTED)
            request.graph.digest = autotm.graph_digest(big)
            with self.assertRaises(grpc.RpcError) as raised:
                stub.PlanGraph(request, timeout=20)
            self.assertEqual(raised.exception.code(), Code.RESOURCE_EXHAUSTED)
            self.assertIn('StreamPlan', raised.exception.details())


class QueueLimitTest(ServerTestCase):
    """A full queue (--max-queued 1): RESOURCE_EXHAUSTED; watch deadlines."""

    SERVER_ARGS = ('--log-level', 'warn', '--workers', '1', '--max-queued', '1')

    def test_full_queue_is_resource_exhausted(self) -> None:
        graph = example_graph()
        self.client.upload_profile(example_profile())
        self.client.upload_profile(long_solve_profile(LONG_SOLVE_GRAPH))
        running = self.long_job()
        self.wait_running_with_incumbent(running.id)
        queued = self.client.create_job(graph, EXAMPLE_HOST, 8 * MIB)
        self.assertEqual(queued.state, Job.QUEUED)
        self.assertCode(
            Code.RESOURCE_EXHAUSTED, self.client.create_job, graph, EXAMPLE_HOST, 9 * MIB
        )
        self.assertCode(
            Code.RESOURCE_EXHAUSTED, self.client.plan, graph, EXAMPLE_HOST, 10 * MIB, deadline=0.3
        )
        # A watch of a job that is not final in time: DEADLINE_EXCEEDED.
        self.assertCode(Code.DEADLINE_EXCEEDED, self.client.watch_job, queued.id, deadline=0.3)
        self.client.cancel_job(queued.id)
        self.client.cancel_job(running.id)
        self.assertEqual(self.client.watch_job(running.id, deadline=30).state, Job.CANCELLED)
        # The queue has room again.
        self.assertIn(
            self.client.create_job(graph, EXAMPLE_HOST, 9 * MIB).state, (Job.QUEUED, Job.RUNNING)
        )


class ConnectionTest(unittest.TestCase):
    """Retries, UNAVAILABLE, shutdown, client-side argument checks."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix='autotm_py_client_')
        self.servers = []

    def tearDown(self) -> None:
        for server in self.servers:
            server.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def test_unavailable_after_the_retries_with_backoff(self) -> None:
        address = f'127.0.0.1:{free_port()}'
        with autotm.Client(
            address, deadline=5, max_attempts=3, initial_backoff=0.2, max_backoff=0.3
        ) as client:
            start = time.monotonic()
            with self.assertRaises(autotm.AutotmError) as raised:
                client.health()
            elapsed = time.monotonic() - start
        self.assertEqual(raised.exception.code, Code.UNAVAILABLE)
        self.assertIn(f'server {address}', raised.exception.message)
        self.assertIn('(3 attempts)', raised.exception.message)
        # Two sleeps, 0.2 s and 0.3 s, each jittered by at most 20%.
        self.assertGreaterEqual(elapsed, 0.8 * (0.2 + 0.3))
        self.assertLess(elapsed, 3)

        with autotm.Client(address, max_attempts=1, initial_backoff=5) as client:
            start = time.monotonic()
            with self.assertRaises(autotm.AutotmError) as raised:
                client.list_host_classes()
            self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(raised.exception.code, Code.UNAVAILABLE)
        self.assertIn('(1 attempt)', raised.exception.message)

    def test_retries_reach_a_server_that_starts_late(self) -> None:
        port = free_port()
        server = ServerProcess(
            self.directory, ('--log-level', 'warn'), listen=f'127.0.0.1:{port}', delay=0.5
        )
        self.servers.append(server)
        with autotm.Client(
            f'127.0.0.1:{port}', max_attempts=10, initial_backoff=0.1, max_backoff=0.5
        ) as client:
            start = time.monotonic()
            self.assertIs(client.health(), True)
            self.assertGreater(time.monotonic() - start, 0.4, 'no retry needed?')
            # Answered by the server started late, not by something else.
            self.assertEqual(client.list_host_classes(), [])
        self.assertEqual(server.wait_listening(), f'127.0.0.1:{port}')
        self.assertEqual(server.terminate(), 0, server.log())

    def test_other_errors_are_not_retried(self) -> None:
        server = start_server(self.directory, ('--log-level', 'warn'))
        self.servers.append(server)
        with autotm.Client(server.address, max_attempts=5, initial_backoff=5) as client:
            start = time.monotonic()
            with self.assertRaises(autotm.AutotmError) as raised:
                client.get_host_class('no-such-host')
            self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(raised.exception.code, Code.NOT_FOUND)
        self.assertNotIn('attempt', raised.exception.message)

    def test_sigterm_exits_zero_then_unavailable(self) -> None:
        server = start_server(self.directory)  # log level info
        self.servers.append(server)
        with autotm.Client(server.address, max_attempts=2, initial_backoff=0.01) as client:
            self.assertIs(client.health(), True)
            self.assertEqual(server.terminate(), 0, server.log())
            self.assertIn('received SIGTERM', server.log())
            with self.assertRaises(autotm.AutotmError) as raised:
                client.health()
        self.assertEqual(raised.exception.code, Code.UNAVAILABLE)
        self.assertIn('2 attempts', raised.exception.message)

    def test_client_arguments_and_closing(self) -> None:
        for kwargs in (
            {'address': ''},
            {'deadline': 0},
            {'max_attempts': 0},
            {'initial_backoff': -1},
        ):
            args = {'address': '127.0.0.1:1', **kwargs}
            with self.assertRaises(autotm.AutotmError) as raised:
                autotm.Client(**args)
            self.assertEqual(raised.exception.code, Code.INVALID_ARGUMENT, kwargs)
        client = autotm.connect('127.0.0.1:1', deadline=3)
        self.assertEqual(
            (client.address, client.deadline, client.max_attempts), ('127.0.0.1:1', 3.0, 4)
        )
        with client:
            pass
        with self.assertRaises(autotm.AutotmError) as raised:
            client.health()
        self.assertEqual(raised.exception.code, Code.FAILED_PRECONDITION)
        self.assertIn('closed', str(raised.exception))


class HelpersTest(unittest.TestCase):
    """Budgets, units and methods as the C++ CLI spells them (units.cc)."""

    def test_bytes_budgets_durations_methods(self) -> None:
        self.assertEqual(autotm.parse_bytes('1.5GiB'), 3 << 29)
        self.assertEqual(autotm.parse_bytes(' 10 GB '), 10**10)
        self.assertEqual(autotm.parse_bytes('123B'), 123)
        for bad in ('', '4G', '-1', '1.5', '1e3', 'GiB', '99999999999PiB'):
            with self.assertRaises(autotm.AutotmError, msg=bad) as raised:
                autotm.parse_bytes(bad)
            self.assertEqual(raised.exception.code, Code.INVALID_ARGUMENT)
            self.assertIn(f'"{bad}"', raised.exception.message)
        self.assertEqual(autotm.parse_budget('100%', 12345), 12345)
        self.assertEqual(autotm.parse_budget('12.5%', 1000), 125)
        self.assertEqual(autotm.parse_budget('33%', 10), 3)
        self.assertEqual(autotm.parse_budget('2KiB', 10), 2048)
        for bad in ('0%', '1001%', '5x%', '%'):
            with self.assertRaises(autotm.AutotmError, msg=bad):
                autotm.parse_budget(bad, 1000)
        self.assertEqual(autotm.parse_duration('2min'), 120)
        self.assertEqual(autotm.parse_duration('500ms'), 0.5)
        self.assertEqual(autotm.parse_method('async'), plan_pb2.METHOD_ASYNCHRONOUS)
        self.assertEqual(autotm.parse_method('METHOD_FIRST_TOUCH'), plan_pb2.METHOD_FIRST_TOUCH)
        self.assertEqual(
            autotm.solve_parameters('static', time_limit='1min'),
            autotm.v1.job_pb2.SolveParameters(method=plan_pb2.METHOD_STATIC, time_limit_seconds=60),
        )

    def test_peak_live_bytes(self) -> None:
        graph = graph_pb2.Graph(name='g')
        graph.tensors.add(id='w', size_bytes=100, role=graph_pb2.TENSOR_ROLE_WEIGHT)
        graph.tensors.add(id='x', size_bytes=5000, role=graph_pb2.TENSOR_ROLE_INPUT)
        graph.tensors.add(id='a', size_bytes=1000)
        graph.tensors.add(id='w2', size_bytes=100, role=graph_pb2.TENSOR_ROLE_WEIGHT)
        graph.kernels.add(id='k0', inputs=['x', 'w'], outputs=['a'])
        graph.kernels.add(id='k1', inputs=['a', 'w'], outputs=['w2'])
        graph.kernels.add(id='k2', inputs=['a'], outputs=[])
        # k0: w x a; k1: w a w2 (x dead); k2: a w2 (the updated weight lives
        # on, w does not). Aligned to 4096: x takes two pages, the others one.
        self.assertEqual(autotm.peak_live_bytes(graph, 0), 6100)
        self.assertEqual(autotm.peak_live_bytes(graph), 4 * 4096)
        self.assertEqual(autotm.resolve_budget('50%', graph), 2 * 4096)
        # Persistent (handed on as it is): x stays to the end, beside w2 at k1.
        graph.tensors[1].persistent = True
        self.assertEqual(autotm.peak_live_bytes(graph, 0), 6200)
        self.assertEqual(autotm.peak_live_bytes(graph), 5 * 4096)
        graph.kernels[2].inputs.append('nowhere')
        with self.assertRaises(autotm.AutotmError):
            autotm.peak_live_bytes(graph)

    def test_save_message_keeps_devices_and_fifos(self) -> None:
        """Issue 18: a device node or FIFO is written through, never replaced."""
        plan = plan_pb2.Plan(graph_name='g', predicted_time_us=1.5)
        with tempfile.TemporaryDirectory() as tmp:
            node = os.path.join(tmp, 'null')
            try:
                os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            except PermissionError as e:
                print(f'skipping the device-node check: mknod is not permitted ({e})')
            else:
                autotm.save_message(plan, node)
                info = os.lstat(node)
                self.assertTrue(stat.S_ISCHR(info.st_mode))
                self.assertEqual((os.major(info.st_rdev), os.minor(info.st_rdev)), (1, 3))
                os.unlink(node)
            fifo = os.path.join(tmp, 'pipe')
            os.mkfifo(fifo)
            received = []

            def read_fifo() -> None:
                with open(fifo, 'rb') as f:
                    received.append(f.read())

            reader = threading.Thread(target=read_fifo)
            reader.start()
            autotm.save_message(plan, fifo)
            reader.join()
            self.assertEqual(autotm.parse_json(received[0], plan_pb2.Plan), plan)
            self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
            self.assertEqual(sorted(os.listdir(tmp)), ['pipe'])
            os.mkdir(os.path.join(tmp, 'dir'))
            with self.assertRaises(autotm.AutotmError) as raised:
                autotm.save_message(plan, os.path.join(tmp, 'dir'))
            self.assertEqual(raised.exception.code, Code.FAILED_PRECONDITION)
            self.assertIn('not replaced', raised.exception.message)
            with open(os.path.join(tmp, 'real.json'), 'w') as f:
                f.write('old')
            os.symlink('real.json', os.path.join(tmp, 'link.json'))
            autotm.save_message(plan, os.path.join(tmp, 'link.json'))
            self.assertTrue(os.path.islink(os.path.join(tmp, 'link.json')))
            self.assertEqual(autotm.load_plan(os.path.join(tmp, 'real.json')), plan)


if __name__ == '__main__':
    unittest.main()
