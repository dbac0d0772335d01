#!/usr/bin/env python3
"""The bundled example's figures in README.md are what the binary prints.

  readme_figures_test.py AUTOTM_BINARY README_MD TESTDATA_DIR

README.md shows the sample output of deploy/run-example.sh: the plan summary
that `autotm plan` prints for the bundled example CNN at a 50% budget. The
server runs the same planner with the same defaults as `autotm solve`, so
this test runs the real binary locally on the bundled graph and profile at
that budget and compares the summary block line by line. Only the wall-clock
figures (the build time in us and the solve time in s) are masked: they
depend on the machine. Every other figure (predicted times, memory, tensors,
moves, ILP size, branch-and-bound nodes, objective, bound, gap) must match.

Exit 0 when they match; 1 naming each line that differs (regenerate the
README sample with `bash deploy/run-example.sh`); 2 on bad usage or input.
"""

import re
import subprocess
import sys

# The line of wall-clock figures: "build 506 us, solve 3.69 s, 53 ...".
TIMING = re.compile(r"build [0-9.]+ (us|ms|s), solve [0-9.]+ (us|ms|s),")


def readme_summary(readme_path):
    """The plan summary lines in README.md's sample output."""
    with open(readme_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        start = next(
            i for i, line in enumerate(lines) if line.startswith("plan for example-cnn-bs32: ")
        )
    except StopIteration:
        sys.exit(
            f"{readme_path}: no 'plan for example-cnn-bs32: ' line in the "
            "sample output of deploy/run-example.sh"
        )
    block = []
    for line in lines[start:]:
        if line.strip() == "..." or not line.strip() or line.startswith("```"):
            break
        block.append(line.rstrip())
    return block, start + 1


def binary_summary(autotm, data_dir):
    """The plan summary lines that `autotm solve` prints for the example."""
    command = [
        autotm,
        "solve",
        "--graph",
        f"{data_dir}/example_cnn.graph.json",
        "--profile",
        f"{data_dir}/example_cnn.profile.json",
        "--budget",
        "50%",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    lines = result.stdout.split("\n")
    block = []
    for line in lines[next(i for i, l in enumerate(lines) if l.startswith("plan for ")) :]:
        if not line.strip():
            break
        block.append(line.rstrip())
    return block


def mask(line):
    return TIMING.sub("build <time>, solve <time>,", line)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    autotm, readme_path, data_dir = sys.argv[1:]
    expected, first_line = readme_summary(readme_path)
    actual = binary_summary(autotm, data_dir)
    if not any(TIMING.search(line) for line in expected):
        print(
            f"{readme_path}:{first_line}: the sample has no 'build ..., solve ...,' "
            "line; the test's mask no longer fits the summary"
        )
        return 1
    failures = 0
    for offset in range(max(len(expected), len(actual))):
        want = expected[offset] if offset < len(expected) else "<missing>"
        got = actual[offset] if offset < len(actual) else "<missing>"
        if mask(want) != mask(got):
            failures += 1
            print(
                f"{readme_path}:{first_line + offset}: README says\n  {want}\n"
                f"but {autotm} solve prints\n  {got}"
            )
    if failures:
        print(
            f"readme_figures: FAIL: {failures} line(s) differ; regenerate the "
            "sample with `bash deploy/run-example.sh`"
        )
        return 1
    print(
        f"readme_figures: PASS: {len(expected)} summary lines of README.md "
        "match the binary (wall-clock times masked)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
