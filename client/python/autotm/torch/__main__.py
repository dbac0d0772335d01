"""python -m autotm.torch: capture, profile and plan PyTorch models.

Subcommands:
  capture   capture a model's training iteration and write its graph
  plan      capture, profile what the host class lacks (if told to), plan
            through an autotm-server, print the summary and write the plan
  profile   time captured aten kernels on this host's tiers and upload them
"""

from __future__ import annotations

import argparse
import sys
import time

_EXAMPLES = """\
models: torchvision:<resnet18|resnet50|resnet152|vgg11|vgg16|vgg19|densenet121|
        inception_v3|mobilenet_v2> (random weights, ImageNet shapes) or
        gpt:<tiny|small|medium> (the GPT-style decoder of autotm.torch.models)

examples:
  # the graph of one ResNet-50 training step at batch 16 (SGD + momentum)
  python -m autotm.torch capture --model torchvision:resnet50 --batch 16 \\
      --out resnet50-bs16.graph.json

  # plan it at 25% of its peak memory; measure the kernels the host class
  # lacks first, with numa:0 as the fast tier and files in /mnt/pmem0 as
  # the slow one
  python -m autotm.torch plan --model torchvision:resnet50 --batch 16 \\
      --server localhost:50051 --host-class xeon-pmm --budget 25% \\
      --profile-missing --fast numa:0 --slow file:/mnt/pmem0 \\
      --out resnet50-bs16.plan.json

exit status: 0 success; 2 bad arguments; 1 any other error (the message
names what is wrong); 3 (profile) some kernels could not be measured;
4 (plan) no plan fits the budget (the server answered INFEASIBLE).
"""


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="torchvision:<name> or gpt:<size> (see below)"
    )
    parser.add_argument("--batch", type=int, required=True, help="batch size")
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=("sgd", "adam", "adamw"),
        help="optimizer of the captured step (default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )


def _capture(args):
    import torch

    from autotm.torch import models

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    workload = models.build(args.model, args.batch, args.optimizer)
    result = workload.capture()
    print(result.summary(), file=sys.stderr)
    return result


def _cmd_capture(args) -> int:
    import autotm

    result = _capture(args)
    autotm.save_message(result.graph, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _format_plan(plan, all_fast_us: float | None) -> str:
    import autotm
    from autotm.v1 import plan_pb2

    stats = plan.stats
    lines = [
        f"plan for {plan.graph_name}: "
        f"{plan_pb2.Method.Name(plan.method).removeprefix('METHOD_').lower()}, "
        f"{plan_pb2.Termination.Name(stats.termination).removeprefix('TERMINATION_')}"
    ]
    predicted = plan.predicted_time_us / 1000
    slowdown = ""
    if all_fast_us:
        slowdown = f"; {plan.predicted_time_us / all_fast_us:.3f}x the all-fast {all_fast_us / 1000:.3f} ms"
    lines.append(
        f"  predicted iteration   {predicted:.3f} ms (kernels "
        f"{plan.kernel_time_us / 1000:.3f} ms, moves {plan.move_time_us / 1000:.3f} ms)"
        f"{slowdown}"
    )
    lines.append(
        f"  fast memory           peak {autotm.format_bytes(plan.peak_fast_bytes)} of "
        f"{autotm.format_bytes(plan.budget_bytes)} budget"
    )
    to_fast = sum(1 for m in plan.moves if m.direction == plan_pb2.MOVE_DIRECTION_TO_FAST)
    lines.append(
        f"  moves                 {len(plan.moves)} ({to_fast} to fast, "
        f"{len(plan.moves) - to_fast} to slow)"
    )
    if plan.recomputes:
        lines.append(
            f"  re-runs               {len(plan.recomputes)} "
            f"({plan.recompute_time_us / 1000:.3f} ms)"
        )
    gap = stats.relative_gap
    gap_text = f"{gap * 100:.2f}%" if gap == gap and gap != float("inf") else "unknown"
    lines.append(
        f"  solver                {stats.solver or '-'}: {stats.variables} variables, "
        f"gap {gap_text}, {stats.solve_seconds:.1f} s"
    )
    return "\n".join(lines)


def _cmd_plan(args) -> int:
    import autotm
    from autotm.torch import profiler
    from autotm.v1 import plan_pb2

    start = time.perf_counter()
    result = _capture(args)
    capture_seconds = time.perf_counter() - start
    graph = result.graph
    if args.graph_out:
        autotm.save_message(graph, args.graph_out)
        print(f"wrote {args.graph_out}", file=sys.stderr)
    with autotm.Client(args.server, deadline=args.rpc_deadline) as client:
        work = client.get_work_list(args.host_class, graph)
        missing = len(work.items)
        profile_seconds = 0.0
        if missing:
            if not args.profile_missing:
                print(
                    f"autotm.torch: host class {args.host_class!r} lacks {missing} of the "
                    "graph's kernel signatures; rerun with --profile-missing --slow TIER "
                    "to measure them on this host, or run `python -m autotm.torch profile` "
                    "where the host class lives",
                    file=sys.stderr,
                )
                return 1
            if not args.slow:
                print("autotm.torch: --profile-missing needs --slow TIER", file=sys.stderr)
                return 1
            t0 = time.perf_counter()
            run = profiler.run_profiler(
                client,
                args.host_class,
                graph=graph,
                fast=args.fast,
                slow=args.slow,
                cache_path=args.cache or None,
                quiet=args.quiet,
                max_configs=args.max_configs,
                min_reps=args.min_reps,
                max_reps=args.max_reps,
                max_time_ms=args.max_time_ms,
            )
            profile_seconds = time.perf_counter() - t0
            if run.unsupported:
                print(
                    "autotm.torch: these kernels could not be measured, so no plan can "
                    "cover the graph:\n  " + "\n  ".join(run.unsupported),
                    file=sys.stderr,
                )
                return 1
        peak = autotm.peak_live_bytes(graph)
        budget = autotm.resolve_budget(args.budget, graph)
        t0 = time.perf_counter()
        plan = client.plan(
            graph,
            args.host_class,
            budget,
            method=args.variant,
            time_limit=args.time_limit,
            recompute=args.recompute,
            deadline=args.deadline,
        )
        plan_seconds = time.perf_counter() - t0
        if plan.stats.termination == plan_pb2.TERMINATION_INFEASIBLE:
            print(
                f"autotm.torch: no plan fits a budget of {budget} bytes: {plan.no_plan_reason}",
                file=sys.stderr,
            )
            return 4
        # The all-fast time does not depend on the budget; twice the peak
        # leaves the pool layout room to fit.
        all_fast = client.plan(
            graph, args.host_class, 2 * peak, method="all-fast", deadline=args.deadline
        )
    print(_format_plan(plan, all_fast.predicted_time_us))
    print(
        f"  timings               capture {capture_seconds:.1f} s, profiling "
        f"{profile_seconds:.1f} s ({missing} signatures missing), plan {plan_seconds:.1f} s"
    )
    if args.out:
        autotm.save_plan(plan, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autotm.torch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    cap = sub.add_parser(
        "capture",
        help="capture a training step as an autotm graph",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    _add_model_args(cap)
    cap.add_argument("--out", required=True, help="graph file to write (v1.Graph JSON)")
    cap.set_defaults(handler=_cmd_capture)

    plan = sub.add_parser(
        "plan",
        help="capture, profile what is missing, plan",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    _add_model_args(plan)
    plan.add_argument("--server", required=True, help="autotm-server HOST:PORT")
    plan.add_argument("--host-class", required=True, help="whose profile to plan with")
    plan.add_argument(
        "--budget",
        required=True,
        help='fast-memory budget: bytes ("2GiB") or a percentage of the '
        'peak live bytes ("25%%")',
    )
    plan.add_argument(
        "--variant",
        default="sync",
        help="static, sync, async, first-touch, all-fast, all-slow " "(default: %(default)s)",
    )
    plan.add_argument(
        "--time-limit", default="60s", help="solver time limit (default: %(default)s)"
    )
    plan.add_argument(
        "--recompute",
        choices=("none", "auto"),
        default="none",
        help="auto: the ILP may re-run producers instead of keeping or moving "
        "their outputs (sync; the executor runs such plans) (default: %(default)s)",
    )
    plan.add_argument(
        "--deadline", default="10min", help="how long the plan call may take (default: %(default)s)"
    )
    plan.add_argument(
        "--rpc-deadline",
        type=float,
        default=120.0,
        help="seconds per other RPC (default: %(default)s)",
    )
    plan.add_argument(
        "--profile-missing",
        action="store_true",
        help="measure the signatures the host class lacks on this host first",
    )
    plan.add_argument("--fast", default="numa:0", help="fast tier (default: %(default)s)")
    plan.add_argument("--slow", help="slow tier, numa:N or file:DIR (for --profile-missing)")
    plan.add_argument("--cache", default="", help="profiling resume file")
    plan.add_argument(
        "--max-configs",
        type=int,
        default=256,
        help="full 2^k table when 2^k <= this, else separable " "(default: %(default)s)",
    )
    plan.add_argument(
        "--min-reps",
        type=int,
        default=5,
        help="minimum timed runs per configuration (default: %(default)s)",
    )
    plan.add_argument(
        "--max-reps",
        type=int,
        default=50,
        help="maximum timed runs per configuration (default: %(default)s)",
    )
    plan.add_argument(
        "--max-time-ms",
        type=float,
        default=2000.0,
        help="stop timing a configuration after this much work " "(default: %(default)s)",
    )
    plan.add_argument("--quiet", action="store_true", help="no progress line")
    plan.add_argument("--graph-out", help="also write the captured graph here")
    plan.add_argument("--out", help="plan file to write (v1.Plan JSON)")
    plan.set_defaults(handler=_cmd_plan)

    from autotm.torch import profiler

    profiler.register_cli(sub)

    args = parser.parse_args(argv)
    import autotm
    from autotm.torch.capture import CaptureError

    try:
        return args.handler(args)
    except (autotm.AutotmError, CaptureError, ValueError, OSError) as e:
        print(f"autotm.torch {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
