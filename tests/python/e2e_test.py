"""End to end from PyTorch: capture -> profile on two tiers -> plan -> verify.

Real models (torchvision ResNet-18 at batch 4, the GPT example with Adam)
are captured, their aten kernels timed with operands on numa:0 and on files
in a temporary directory (the file-backed emulated slow tier), uploaded to a
real autotm-server on 127.0.0.1, planned at 50% and 25% of their peak
memory, and every plan is re-checked by the real `autotm verify` against the
profile the server exports. Profiling uses short timing settings
(max_configs 128: kernels with more runnable configurations get separable costs) so the
file runs in a few minutes on 2 cores.
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

import autotm
from autotm.torch import models
from autotm.torch import profiler

from server_process import start_server

# The ctest registration passes AUTOTM_CLI; by hand, the default build dir.
CLI = os.environ.get(
    "AUTOTM_CLI",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build/client/autotm"),
)
HOST_CLASS = "e2e-torch"
FAST_TIMING = dict(
    max_configs=128,
    warmup=1,
    min_reps=3,
    max_reps=5,
    max_spread=0.1,
    max_time_ms=100.0,
    copy_bytes=16 << 20,
)


class TorchEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="autotm-e2e-torch-")
        cls.dir = pathlib.Path(cls.tmp.name)
        (cls.dir / "slow").mkdir()
        cls.server = start_server(str(cls.dir))
        cls.client = autotm.Client(cls.server.address, deadline=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.server.terminate()
        cls.tmp.cleanup()
        if code != 0:
            raise AssertionError(f"autotm-server exited with {code}")

    def profile(self, graph):
        result = profiler.run_profiler(
            self.client,
            HOST_CLASS,
            graph=graph,
            fast="numa:0",
            slow=f"file:{self.dir / 'slow'}",
            quiet=True,
            **FAST_TIMING,
        )
        self.assertEqual(result.unsupported, [])
        self.assertEqual(len(self.client.get_work_list(HOST_CLASS, graph).items), 0)
        return result

    def verify(self, graph_path, profile_path, plan_path):
        run = subprocess.run(
            [
                CLI,
                "verify",
                "--graph",
                str(graph_path),
                "--profile",
                str(profile_path),
                "--plan",
                str(plan_path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("verified", run.stdout + run.stderr)

    def plan_workload(self, spec, batch, optimizer):
        workload = models.build(spec, batch, optimizer)
        captured = workload.capture()
        graph = captured.graph
        graph_path = self.dir / f"{workload.name}.graph.json"
        autotm.save_message(graph, graph_path)

        self.profile(graph)
        # A second run finds nothing missing and measures nothing.
        again = self.profile(graph)
        self.assertEqual(again.work_items, 0)
        self.assertEqual(again.measured_kernels, 0)

        profile_path = self.dir / f"{workload.name}.profile.json"
        autotm.save_message(self.client.export_profile(HOST_CLASS), profile_path)

        peak = autotm.peak_live_bytes(graph)
        all_fast = self.client.plan(graph, HOST_CLASS, 2 * peak, method="all-fast")
        previous = None
        for budget_text in ("50%", "25%"):
            budget = autotm.resolve_budget(budget_text, graph)
            plan = self.client.plan(
                graph, HOST_CLASS, budget, method="sync", time_limit=30, deadline=300
            )
            with self.subTest(spec=spec, budget=budget_text):
                self.assertLessEqual(plan.peak_fast_bytes, budget)
                # No assertion against the all-fast time: on a machine whose
                # "slow" tier is the page cache, some kernels measure faster
                # with a slow operand, and the planner rightly uses that.
                self.assertGreater(all_fast.predicted_time_us, 0)
                plan_path = self.dir / f"{workload.name}.{budget_text[:-1]}.plan.json"
                autotm.save_plan(plan, plan_path)
                self.verify(graph_path, profile_path, plan_path)
                if previous is not None:
                    # Less fast memory never makes the optimum faster; allow
                    # the solver's gap.
                    self.assertGreaterEqual(
                        plan.predicted_time_us,
                        previous.predicted_time_us * (1 - previous.stats.relative_gap) - 1e-6,
                    )
            previous = plan
        return graph

    def test_resnet18_batch4_sgd(self):
        graph = self.plan_workload("torchvision:resnet18", 4, "sgd")
        self.assertEqual(sum(k.op == "aten::convolution.default" for k in graph.kernels), 20)

    def test_gpt_adam(self):
        self.plan_workload("gpt:tiny", 2, "adam")

    def test_one_command_plan(self):
        """`python -m autotm.torch plan` does capture, profiling and planning."""
        out = self.dir / "cli.plan.json"
        command = [
            sys.executable,
            "-m",
            "autotm.torch",
            "plan",
            "--model",
            "gpt:tiny",
            "--batch",
            "3",
            "--optimizer",
            "sgd",
            "--server",
            self.server.address,
            "--host-class",
            HOST_CLASS,
            "--budget",
            "40%",
            "--time-limit",
            "20s",
            "--profile-missing",
            "--slow",
            f"file:{self.dir / 'slow'}",
            "--max-configs",
            "128",
            "--min-reps",
            "3",
            "--max-reps",
            "5",
            "--max-time-ms",
            "100",
            "--quiet",
            "--out",
            str(out),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("predicted iteration", run.stdout)
        self.assertIn("the all-fast", run.stdout)
        plan = autotm.load_plan(out)
        self.assertEqual(plan.graph_name, "gpt-tiny-bs3")

        # Without a server to ask, or without a slow tier to measure on, the
        # command says what is wrong.
        bad = subprocess.run(
            command[: command.index("--profile-missing")] + ["--host-class", "nobody-has-this"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(bad.returncode, 1)
        self.assertIn("lacks", bad.stderr)


if __name__ == "__main__":
    unittest.main()
