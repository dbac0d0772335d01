"""Training under a plan (autotm.torch.executor) against plain PyTorch.

ResNet-18 and the GPT example are captured, their kernels profiled on
numa:0 and on files in a temporary directory, and planned by the real
`autotm solve` (sync and async, 50% and 25% of the peak). Three SGD steps
under each plan must give bit-identical losses, parameters and buffers to
three steps of eager PyTorch, hold no more fast memory than the plan says
(and the budget allows), and execute exactly the plan's moves.

Re-runs (`--recompute auto`): ResNet-18 and MobileNet v2 (whose in-place
ReLU6 makes the solver re-run in-place kernels from inputs kept in the slow
tier past their life) are planned at tight budgets with profiles from the
optane-2019 cost model (`autotm profile synth`: every kernel separable, so
every kernel is a candidate; the quick measured profiles leave most kernels
priced by tables, which are never re-run). The same checks hold, and every
re-run the plan lists must have run, once per step, reading its inputs from
the tiers the plan's configuration names.
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
SEED = 1000


class Workload:
    """A model after one eager step (so SGD has its momentum), captured and
    profiled, with plans made on demand."""

    def __init__(self, spec, batch, directory, measure=True):
        self.dir = directory
        self.w = models.build(spec, batch, "sgd")
        w = self.w
        w.optimizer.zero_grad()
        w.loss_fn(w.model(*w.inputs), *w.targets).backward()
        w.optimizer.step()
        self.capture = w.capture()
        self.graph_path = os.path.join(directory, f"{w.name}.graph.json")
        autotm.save_message(self.capture.graph, self.graph_path)
        self.profile_path = os.path.join(directory, f"{w.name}.synth.json")
        subprocess.run(
            [CLI, "profile", "synth", "--graph", self.graph_path, "--out", self.profile_path],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.synth_profile_path = self.profile_path
        if not measure:
            return
        items = profiler.work_list_of(self.capture.graph)
        profile, unsupported = profiler.profile_work_list(
            items, "numa:0", f"file:{directory}", **QUICK
        )
        assert not unsupported, unsupported
        self.profile_path = os.path.join(directory, f"{w.name}.profile.json")
        autotm.save_message(profile, self.profile_path)

    def plan(self, variant, budget, recompute=False):
        tag = "recompute" if recompute else "plain"
        out = os.path.join(self.dir, f"{self.w.name}.{variant}.{tag}.{budget[:-1]}.plan.json")
        extra = (
            ["--recompute", "auto", "--profile", self.synth_profile_path]
            if recompute
            else ["--profile", self.profile_path]
        )
        run = subprocess.run(
            [
                CLI,
                "solve",
                "--graph",
                self.graph_path,
                *extra,
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
            "mobilenet": Workload("torchvision:mobilenet_v2", 2, cls.tmp.name, measure=False),
        }

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def eager(self, workload):
        model, optimizer = workload.fresh()
        losses = []
        for step in range(STEPS):
            torch.manual_seed(SEED + step)  # MobileNet's dropout
            optimizer.zero_grad(set_to_none=True)
            loss = workload.w.loss_fn(model(*workload.w.inputs), *workload.w.targets)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        return model, losses

    def check_under_plan(self, name, variant, budget, recompute=False):
        workload = self.workloads[name]
        plan = workload.plan(variant, budget, recompute)
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
        planned_reruns = {}
        for r in plan.recomputes:
            key = (r.before_kernel_index, r.kernel_index)
            planned_reruns.setdefault(key, [[], r.config])[0].append(r.tensor_id)
        for step in range(STEPS):
            torch.manual_seed(SEED + step)
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
            reruns = {
                (r.before_kernel_index, r.kernel_index): [list(r.tensor_ids), r.config]
                for r in report.recomputes
            }
            self.assertEqual(len(report.recomputes), len(reruns), "a producer re-ran twice")
            self.assertEqual(reruns, planned_reruns, f"step {step}")
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

    def check_reruns(self, name, budget):
        plan = self.check_under_plan(name, "sync", budget, recompute=True)
        if plan.recomputes:
            return plan
        # Re-runs never make a plan slower; a solve starved of CPU may end at
        # its limit with the plain sync seed. Only a finished one must have
        # them.
        self.assertNotEqual(
            plan.stats.termination,
            plan_pb2.TERMINATION_OPTIMAL,
            f"an optimal {name} plan at {budget} with --recompute auto re-runs nothing",
        )
        self.skipTest(f"the {name} solve stopped at its limit without re-runs (a loaded machine)")

    def test_resnet18_recompute_10(self):
        plan = self.check_reruns("resnet18", "10%")
        # Which re-runs the optimum picks depends on the model's options
        # (multi-output re-runs compete with kept inputs); a kept input, when
        # there is one, must be read by a re-run at the kernel it is kept for.
        kept = {t.tensor_id: t.kept_slow_until_kernel for t in plan.tensors}
        reruns_before = {r.before_kernel_index for r in plan.recomputes}
        for tensor_id, until in kept.items():
            if until:
                self.assertIn(until, reruns_before, tensor_id)

    def test_mobilenet_recompute_20(self):
        plan = self.check_reruns("mobilenet", "20%")
        graph = self.workloads["mobilenet"].capture.graph
        in_place = [r for r in plan.recomputes if "@" in r.tensor_id]
        if not in_place:
            self.skipTest("the plan re-runs no in-place kernel: that path was not exercised")
        # Such a re-run reads the version its kernel overwrote, kept slow.
        kept = {t.tensor_id for t in plan.tensors if t.kept_slow_until_kernel}
        for r in in_place:
            self.assertTrue(set(graph.kernels[r.kernel_index].inputs) & kept, r.tensor_id)

    def test_recompute_of_a_model_storage_is_refused(self):
        workload = self.workloads["gpt"]
        plan = workload.plan("sync", "50%")
        kernels = workload.capture.graph.kernels
        k, writer = next(
            (k, kernel)
            for k, kernel in enumerate(kernels)
            if any(o.startswith("param:") for o in kernel.outputs)
        )
        tensor = next(o for o in writer.outputs if o.startswith("param:"))
        plan.recomputes.add(
            tensor_id=tensor,
            kernel_id=writer.id,
            kernel_index=k,
            dropped_after_kernel_index=k,
            before_kernel_id=kernels[-1].id,
            before_kernel_index=len(kernels) - 1,
        )
        with self.assertRaises(autotm.AutotmError) as raised:
            PlanExecutor(workload.capture, plan, slow=f"file:{self.tmp.name}")
        self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("storage of the model", str(raised.exception))

    def test_two_level_recompute_is_refused(self):
        workload = self.workloads["gpt"]
        plan = workload.plan("sync", "50%")
        kernels = workload.capture.graph.kernels
        step = plan.recomputes.add(
            tensor_id=kernels[1].outputs[0],
            kernel_id=kernels[1].id,
            kernel_index=1,
            dropped_after_kernel_index=2,
            before_kernel_id=kernels[-1].id,
            before_kernel_index=len(kernels) - 1,
        )
        step.remade_inputs.add(
            tensor_id=kernels[0].outputs[0], kernel_id=kernels[0].id, kernel_index=0
        )
        with self.assertRaises(autotm.AutotmError) as raised:
            PlanExecutor(workload.capture, plan, slow=f"file:{self.tmp.name}")
        self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("two-level re-run", str(raised.exception))

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
