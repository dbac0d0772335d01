#!/usr/bin/env python3
"""clang's -Wthread-safety over the sources that take locks, as errors.

  thread_safety.py BUILD_DIR [--jobs N] [--clang clang++]

The project builds with gcc, which ignores the ABSL_GUARDED_BY /
ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations; this runs clang in syntax-only
mode (no code generated, so it is cheap) with each file's own flags from
BUILD_DIR/compile_commands.json, on every project .cc that includes a mutex
header or carries a lock annotation, itself or in its own header (foo.h
beside foo.cc). Exits 1 listing each warning (a lock the analysis cannot
prove held), 0 when there is none. Used by ctest
(thread_safety) when clang++ is installed.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys

LOCKING = re.compile(
    r'#include [<"](mutex|shared_mutex|absl/synchronization/mutex\.h)[>"]'
    r"|ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|"
    r"SHARED_LOCKS_REQUIRED|LOCKS_EXCLUDED)"
)
FLAGS = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]


def clang_command(entry, clang):
    words = shlex.split(entry["command"])
    keep = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word in ("-o", "-c"):
            skip = word == "-o"
            continue
        if word.startswith("-W") or word.startswith("-O") or word == entry["file"]:
            continue
        keep.append(word)
    return [clang] + keep + FLAGS + [entry["file"]]


def check(entry, clang):
    result = subprocess.run(
        clang_command(entry, clang), cwd=entry["directory"], capture_output=True, text=True
    )
    return entry["file"], result.returncode, result.stderr


def takes_locks(path):
    """True when `path` or its own header (foo.h beside foo.cc) locks: a class
    whose mutex and annotations live in its header is checked through its .cc
    even if the .cc names no mutex itself."""
    for candidate in (path, path[: -len(".cc")] + ".h"):
        if not os.path.exists(candidate):
            continue
        with open(candidate, encoding="utf-8", errors="replace") as source:
            if LOCKING.search(source.read()):
                return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build_dir")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--clang", default="clang++")
    args = parser.parse_args()
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    with open(os.path.join(args.build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    chosen = {}
    for entry in entries:
        path = os.path.abspath(entry["file"])
        if not path.startswith(root + os.sep) or not path.endswith(".cc"):
            continue  # generated sources live in the build directory
        if takes_locks(path):
            chosen.setdefault(path, entry)
    failures = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for path, code, stderr in pool.map(lambda e: check(e, args.clang), chosen.values()):
            if code != 0:
                failures += 1
                print(f"thread_safety: {os.path.relpath(path, root)}:\n{stderr}")
    if failures:
        print(
            f"thread_safety: FAIL: {failures} of {len(chosen)} files have "
            "-Wthread-safety findings (or did not parse with clang)"
        )
        return 1
    print(
        f"thread_safety: OK: {len(chosen)} files that take locks are clean "
        "under clang -Wthread-safety"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
