#!/usr/bin/python3
"""Writes a large training graph made of copies of a small one (issue 19).

The copies run one after another and share nothing: every tensor and kernel
id is prefixed with its copy ("c17/conv1a.w"), so the kernel signatures stay
those of the original graph and the original's profile covers the result.
Each copy's weights are graph arguments, live from kernel 0 to their last
use in their own copy, so the sum of the tensors' lifetimes (what per-kernel
live sets cost) grows quadratically with the number of copies: the worst
case for anything that materialises kernels x live tensors.

  tools/repeat_graph.py --copies 3280 --out /tmp/big.graph.json
      # 200,080 kernels, 288,640 tensors (tests/testdata/example_cnn)
  autotm plan --graph /tmp/big.graph.json --host-class example-optane-like \\
      --budget 50% --variant heuristic --time-limit 600s

Exit codes: 0 written; 1 unreadable graph or bad flags.
"""

import argparse
import json
import os
import sys

DEFAULT_GRAPH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "tests",
    "testdata",
    "example_cnn.graph.json",
)


def repeat(graph, copies):
    """`copies` copies of `graph` (autotm.v1.Graph JSON) in sequence."""
    out = {
        "name": "%s-x%d" % (graph["name"], copies),
        "tensors": [],
        "kernels": [],
    }
    for c in range(copies):
        prefix = "c%d/" % c
        for tensor in graph["tensors"]:
            copy = dict(tensor)
            copy["id"] = prefix + tensor["id"]
            out["tensors"].append(copy)
        for kernel in graph["kernels"]:
            copy = dict(kernel)
            copy["id"] = prefix + kernel["id"]
            copy["inputs"] = [prefix + t for t in kernel.get("inputs", [])]
            copy["outputs"] = [prefix + t for t in kernel.get("outputs", [])]
            out["kernels"].append(copy)
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--graph",
        default=DEFAULT_GRAPH,
        help="graph to copy (autotm.v1.Graph JSON; default: the example CNN, " "61 kernels)",
    )
    parser.add_argument("--copies", type=int, required=True, help="number of copies (>= 1)")
    parser.add_argument("--out", required=True, help="file to write")
    args = parser.parse_args()
    if args.copies < 1:
        print("repeat_graph: --copies must be >= 1", file=sys.stderr)
        return 1
    try:
        with open(args.graph) as f:
            graph = json.load(f)
    except (OSError, ValueError) as error:
        print("repeat_graph: cannot read %s: %s" % (args.graph, error), file=sys.stderr)
        return 1
    out = repeat(graph, args.copies)
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(
        "repeat_graph: wrote %s: %d kernels, %d tensors"
        % (args.out, len(out["kernels"]), len(out["tensors"])),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
