"""python -m autotm.torch.bench: training under autotm plans, measured.

For one model it captures the training step, profiles its kernels on the
two tiers, plans it at each budget (sync and async, with `autotm solve`),
and times, per iteration (median of --iterations after one warm-up):

  eager        plain PyTorch, everything in fast memory (all-fast)
  offload-all  plain PyTorch with every tensor autograd saves for backward
               written to the slow tier and read back (what
               torch.autograd.graph.save_on_cpu and "offload every
               activation" hooks do; one policy, no budget)
  autotm       the step under the plan (autotm.torch.executor)

and prints, per plan: predicted time, measured time, their ratio, the
executor's fast-memory peak against the budget, and the times relative to
eager. A benchmark, not a test: run it alone on an idle machine.

  python -m autotm.torch.bench --model torchvision:resnet18 --batch 4 \\
      --slow file:/mnt/pmem0 --budgets 50%,25% --cli build/client/autotm
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import autotm
from autotm.torch import models, profiler
from autotm.torch.executor import Trainer


def _median_time(run, iterations: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _eager_step(model, optimizer, workload):
    optimizer.zero_grad(set_to_none=True)
    loss = workload.loss_fn(model(*workload.inputs), *workload.targets)
    loss.backward()
    optimizer.step()


def _offload_all_step(model, optimizer, workload, slow, pool):
    """An eager step whose saved tensors live in the slow tier until backward
    (slow buffers are reused across steps, by page-rounded size)."""
    used = []

    def pack(t):
        nbytes = t.numel() * t.element_size()
        if nbytes == 0:
            return t
        size = -(-nbytes // 4096) * 4096
        free = pool.setdefault(size, [])
        buffer = free.pop() if free else slow.allocate(size)
        used.append(buffer)
        slow_copy = torch.frombuffer(buffer, dtype=t.dtype, count=t.numel()).view(t.shape)
        slow_copy.copy_(t)
        return slow_copy

    def unpack(t):
        return t.clone()

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        _eager_step(model, optimizer, workload)
    for buffer in used:
        pool[len(buffer)].append(buffer)


def _fresh(workload):
    model = copy.deepcopy(workload.model)
    optimizer = type(workload.optimizer)(model.parameters(), **workload.optimizer.defaults)
    optimizer.load_state_dict(workload.optimizer.state_dict())
    return model, optimizer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autotm.torch.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--fast", default="numa:0")
    parser.add_argument("--slow", required=True, help="numa:N or file:DIR")
    parser.add_argument("--budgets", default="50%,25%")
    parser.add_argument("--variants", default="sync,async")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--time-limit", default="30s", help="solver limit per plan")
    parser.add_argument("--cli", default="autotm", help="the autotm CLI (for `autotm solve`)")
    parser.add_argument("--max-configs", type=int, default=128)
    parser.add_argument(
        "--quick-profile",
        action="store_true",
        help="fewer timing repetitions when profiling (faster, noisier)",
    )
    args = parser.parse_args(argv)

    workload = models.build(args.model, args.batch, "sgd")
    _eager_step(workload.model, workload.optimizer, workload)  # optimizer state
    captured = workload.capture()
    print(captured.summary())
    timing = dict(warmup=1, min_reps=2, max_reps=3, max_time_ms=50.0) if args.quick_profile else {}
    slow = profiler.make_tier(args.slow)
    with tempfile.TemporaryDirectory(prefix="autotm-bench-") as tmp:
        start = time.perf_counter()
        profile, unsupported = profiler.profile_work_list(
            profiler.work_list_of(captured.graph),
            args.fast,
            args.slow,
            max_configs=args.max_configs,
            **timing,
        )
        if unsupported:
            print("cannot measure:\n  " + "\n  ".join(unsupported), file=sys.stderr)
            return 1
        print(
            f"profiled {len(profile.kernels)} signatures in {time.perf_counter() - start:.1f} s "
            f"({args.fast} vs {args.slow})"
        )
        graph_path = os.path.join(tmp, "g.graph.json")
        profile_path = os.path.join(tmp, "g.profile.json")
        autotm.save_message(captured.graph, graph_path)
        autotm.save_message(profile, profile_path)

        eager = _median_time(lambda m=_fresh(workload): _eager_step(*m, workload), args.iterations)
        offload = _median_time(
            lambda m=_fresh(workload), pool={}: _offload_all_step(*m, workload, slow, pool),
            args.iterations,
        )
        print(
            f"eager (all fast) {eager * 1e3:.1f} ms; offload-all {offload * 1e3:.1f} ms "
            f"({offload / eager:.2f}x eager)"
        )
        header = (
            f"{'plan':<12}{'budget':>10}{'predicted':>12}{'measured':>11}{'ratio':>8}"
            f"{'vs eager':>10}{'vs offload':>12}{'fast peak':>12}{'moves':>7}{'staged':>8}"
        )
        print(header)
        for variant in args.variants.split(","):
            for budget in args.budgets.split(","):
                out = os.path.join(tmp, f"{variant}.{budget[:-1]}.plan.json")
                run = subprocess.run(
                    [
                        args.cli,
                        "solve",
                        "--graph",
                        graph_path,
                        "--profile",
                        profile_path,
                        "--budget",
                        budget,
                        "--variant",
                        variant,
                        "--time-limit",
                        args.time_limit,
                        "--out",
                        out,
                    ],
                    capture_output=True,
                    text=True,
                )
                if run.returncode != 0:
                    print(f"{variant:<12}{budget:>10}  no plan: {run.stderr.strip()[-200:]}")
                    continue
                plan = autotm.load_plan(out)
                model, optimizer = _fresh(workload)
                trainer = Trainer(
                    model,
                    optimizer,
                    captured,
                    plan,
                    args.fast,
                    args.slow,
                    check_placement_fraction=0.0,
                )
                reports = []

                def step():
                    reports.append(trainer.step(workload.inputs, workload.targets)[1])

                measured = _median_time(step, args.iterations)
                trainer.close()
                report = reports[-1]
                predicted = plan.predicted_time_us / 1e6
                print(
                    f"{variant:<12}{autotm.format_bytes(plan.budget_bytes):>10}"
                    f"{predicted * 1e3:>10.1f}ms{measured * 1e3:>9.1f}ms"
                    f"{measured / predicted:>8.2f}{measured / eager:>9.2f}x"
                    f"{measured / offload:>11.2f}x"
                    f"{autotm.format_bytes(report.peak_held_fast_bytes):>12}"
                    f"{len(report.moves):>7}{len(report.staging_copies):>8}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
