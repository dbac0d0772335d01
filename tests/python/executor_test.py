"""Training under a plan (autotm.torch.executor) against plain PyTorch.

ResNet-18 and the GPT example are captured, their kernels profiled on
numa:0 and on files in a temporary directory, and planned by the real
`autotm solve` (sync and async, 50% and 25% of the peak). Three SGD steps
under each plan must give bit-identical losses, parameters and buffers to
three steps of eager PyTorch, hold no more fast memory than the plan says
(and the budget allows), and execute exactly the plan's moves.
"""

import copy
import os
import subprocess
import tempfile
import unittest

import grpc
import torch

import autotm
from autotm.v1 import plan_pb2
from autotm.torch import models, profiler
from autotm.torch.executor import PlanExecutor, Trainer

# The ctest registration passes AUTOTM_CLI; by hand, the default build dir.
CLI = os.environ.get(
    "AUTOTM_CLI",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build/client/autotm"),
)
QUICK = dict(
    max_configs=128, warmup=1, min_reps=2, max_reps=3, max_time_ms=20.0, copy_bytes=1 << 20
)
STEPS = 3


class Workload:
    """A model after one eager step (so SGD has its momentum), captured and
    profiled, with plans made on demand."""

    def __init__(self, spec, batch, directory):
        self.dir = directory
        self.w = models.build(spec, batch, "sgd")
        w = self.w
        w.optimizer.zero_grad()
        w.loss_fn(w.model(*w.inputs), *w.targets).backward()
        w.optimizer.step()
        self.capture = w.capture()
        self.graph_path = os.path.join(directory, f"{w.name}.graph.json")
        autotm.save_message(self.capture.graph, self.graph_path)
        items = profiler.work_list_of(self.capture.graph)
        profile, unsupported = profiler.profile_work_list(
            items, "numa:0", f"file:{directory}", **QUICK
        )
        assert not unsupported, unsupported
        self.profile_path = os.path.join(directory, f"{w.name}.profile.json")
        autotm.save_message(profile, self.profile_path)

    def plan(self, variant, budget):
        out = os.path.join(self.dir, f"{self.w.name}.{variant}.{budget[:-1]}.plan.json")
        run = subprocess.run(
            [
                CLI,
                "solve",
                "--graph",
                self.graph_path,
                "--profile",
                self.profile_path,
                "--budget",
                budget,
                "--variant",
                variant,
                "--time-limit",
                "60s",
                "--out",
                out,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert (
            run.returncode == 0
        ), f"autotm solve exited {run.returncode}: {run.stdout[-2000:]} {run.stderr[-2000:]}"
        return autotm.load_plan(out)

    def fresh(self):
        """Copies of the model and optimizer in their captured state."""
        model = copy.deepcopy(self.w.model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        optimizer.load_state_dict(self.w.optimizer.state_dict())
        return model, optimizer


class ExecutorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="autotm-executor-")
        cls.workloads = {
            "resnet18": Workload("torchvision:resnet18", 2, cls.tmp.name),
            "gpt": Workload("gpt:tiny", 2, cls.tmp.name),
        }

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def eager(self, workload):
        model, optimizer = workload.fresh()
        losses = []
        for _ in range(STEPS):
            optimizer.zero_grad(set_to_none=True)
            loss = workload.w.loss_fn(model(*workload.w.inputs), *workload.w.targets)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        return model, losses

    def check_under_plan(self, name, variant, budget):
        workload = self.workloads[name]
        plan = workload.plan(variant, budget)
        reference, reference_losses = self.eager(workload)
        model, optimizer = workload.fresh()
        trainer = Trainer(
            model,
            optimizer,
            workload.capture,
            plan,
            slow=f"file:{self.tmp.name}",
            budget_bytes=plan.budget_bytes,
        )
        self.addCleanup(trainer.close)
        planned_moves = sorted(
            (m.kernel_index, m.tensor_id, m.direction, m.bytes_copied) for m in plan.moves
        )
        for step in range(STEPS):
            loss, report = trainer.step(workload.w.inputs, workload.w.targets)
            self.assertEqual(loss, reference_losses[step], f"step {step}")
            # The plan's accounting, kernel by kernel, and the memory held.
            self.assertEqual(report.fast_bytes, [c.fast_bytes for c in plan.kernels])
            self.assertEqual(report.peak_fast_bytes, plan.peak_fast_bytes)
            self.assertLessEqual(report.peak_held_fast_bytes, plan.budget_bytes)
            # At every kernel, never more than the plan counts (within the
            # alignment); less where an in-place write keeps one storage for
            # two versions.
            slack = plan.alignment_bytes or 4096
            for k, (held, choice) in enumerate(zip(report.held_fast_bytes, plan.kernels)):
                self.assertLessEqual(held, choice.fast_bytes + slack, f"kernel {k}")
            executed = sorted(
                (m.kernel_index, m.tensor_id, m.direction, m.bytes_copied) for m in report.moves
            )
            self.assertEqual(executed, planned_moves)
            self.assertGreater(report.placement_checks, 0)
        for (pname, expected), actual in zip(reference.named_parameters(), model.parameters()):
            self.assertTrue(torch.equal(actual, expected), pname)
        for (bname, expected), actual in zip(reference.named_buffers(), model.buffers()):
            self.assertTrue(torch.equal(actual, expected), bname)
        return plan

    def test_resnet18_sync_50(self):
        self.check_under_plan("resnet18", "sync", "50%")

    def test_resnet18_sync_25(self):
        self.check_under_plan("resnet18", "sync", "25%")

    def test_resnet18_async_50(self):
        self.check_under_plan("resnet18", "async", "50%")

    def test_resnet18_async_25(self):
        plan = self.check_under_plan("resnet18", "async", "25%")
        if any(not m.sync for m in plan.moves):
            return
        # Async never returns a slower plan than sync: a solve starved of CPU
        # may end at its limit with the synchronous seed, which has no
        # overlapped copy. Only a solve that finished may be held to having
        # one.
        self.assertNotEqual(
            plan.stats.termination,
            plan_pb2.TERMINATION_OPTIMAL,
            "an optimal async plan at 25% has no overlapped copy",
        )
        self.skipTest(
            "the async solve stopped at its limit with the synchronous plan "
            "(a loaded machine): the overlapped-copy path was not exercised"
        )

    def test_gpt_sync_50(self):
        self.check_under_plan("gpt", "sync", "50%")

    def test_gpt_sync_25(self):
        self.check_under_plan("gpt", "sync", "25%")

    def test_gpt_async_50(self):
        self.check_under_plan("gpt", "async", "50%")

    def test_gpt_async_25(self):
        self.check_under_plan("gpt", "async", "25%")

    def test_plan_for_another_graph_is_refused(self):
        plan = self.workloads["gpt"].plan("sync", "50%")
        with self.assertRaises(autotm.AutotmError) as raised:
            PlanExecutor(self.workloads["resnet18"].capture, plan, slow=f"file:{self.tmp.name}")
        self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("does not match the captured graph", str(raised.exception))

    def test_plan_with_recomputations_is_refused(self):
        workload = self.workloads["gpt"]
        plan = workload.plan("sync", "50%")
        producer = next(k for k in workload.capture.graph.kernels if len(k.outputs) == 1)
        plan.recomputes.add(
            tensor_id=producer.outputs[0],
            kernel_id=producer.id,
            before_kernel_id=workload.capture.graph.kernels[-1].id,
        )
        with self.assertRaises(autotm.AutotmError) as raised:
            PlanExecutor(workload.capture, plan, slow=f"file:{self.tmp.name}")
        self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("cannot re-run kernels yet", str(raised.exception))

    def test_plan_for_another_budget_is_refused(self):
        workload = self.workloads["gpt"]
        plan = workload.plan("sync", "50%")
        with self.assertRaisesRegex(autotm.AutotmError, "made for a budget of"):
            PlanExecutor(
                workload.capture,
                plan,
                slow=f"file:{self.tmp.name}",
                budget_bytes=plan.budget_bytes // 2,
            )

    def test_missing_numa_node_is_an_error_before_any_work(self):
        workload = self.workloads["gpt"]
        plan = workload.plan("sync", "50%")
        with self.assertRaises(autotm.AutotmError) as raised:
            PlanExecutor(workload.capture, plan, fast="numa:7", slow=f"file:{self.tmp.name}")
        self.assertIn("numa:7", str(raised.exception))
        self.assertIn("node", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
