#!/usr/bin/env python3
"""Lists the longest functions in the C++ sources, and checks a length limit.

A function here is a brace-delimited body that opens after a `)` (possibly
followed by qualifiers such as `const`, `override`, `noexcept`, `-> T`, or a
constructor's member-initialiser list) at namespace or class scope. Lambdas
count toward the function that holds them. The scan strips comments, string
and character literals (raw strings too) before matching braces, so braces
inside them do not confuse it. Lengths are in source lines, from the line of
the function's name to its closing brace.

  function_lengths.py [--root DIR] [--top N]
      prints the N longest functions (default 10), longest first.
  function_lengths.py [--root DIR] --check --max-lines 120 --allow FILE
      exits 1 naming each function over the limit that FILE does not list,
      and each FILE entry that is stale (no longer over the limit, or gone):
      the allow-list can only shrink.

Tests (*_test.cc) and the build directories are skipped. FILE lines are
`path:function  # reason`; blank lines and lines starting with # are ignored.
"""

import argparse
import os
import re
import sys

SKIP_DIRS = {".git", "build", "build-main", "node_modules", "__pycache__"}
# Keywords whose parenthesised head opens a statement block, not a function.
CONTROL = {
    "if",
    "for",
    "while",
    "switch",
    "catch",
    "return",
    "sizeof",
    "do",
    "else",
    "decltype",
    "alignof",
    "noexcept",
    "requires",
    "static_assert",
}


def strip_code(text):
    """Returns text with comments and literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (
            c == "R"
            and text.startswith('R"', i)
            and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
        ):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():
                out.append(" ")  # a digit separator such as 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "#" and (i == 0 or text[i - 1] == "\n"):
            # A preprocessor line (with continuations) holds no function body.
            j = i
            while True:
                k = text.find("\n", j)
                if k < 0:
                    k = n
                    break
                if text[k - 1] != "\\":
                    break
                j = k + 1
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
        else:
            out.append(c)
            i += 1
    return "".join(out)


def function_name(head):
    """The name of the function whose head (text before `{`) is given, or None."""
    head = head.rstrip()
    # Drop a constructor's member-initialiser list: `) : a_(x), b_(y)`.
    depth = 0
    close = -1
    for k in range(len(head) - 1, -1, -1):
        ch = head[k]
        if ch == ")":
            if depth == 0 and close < 0:
                close = k
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                before = head[:k].rstrip()
                m = re.search(r"([A-Za-z_~][\w:~<>,\s]*?)\s*$", before)
                ident = re.search(r"([\w:~]+(?:<[^<>]*>)?|operator\s*\S+)\s*$", before)
                if not ident:
                    return None
                name = ident.group(1)
                base = name.split("::")[-1]
                if base in CONTROL or name in CONTROL:
                    return None
                # `) : member_(...)` initialiser lists: keep walking left to
                # the real parameter list.
                tail = head[close + 1 :] if close >= 0 else ""
                prev = before[: len(before) - len(name)].rstrip()
                if prev.endswith(",") or (prev.endswith(":") and not prev.endswith("::")):
                    close = -1
                    depth = 0
                    continue
                if re.search(r"[=\[]\s*$", prev) or prev.endswith("]"):
                    return None  # a lambda or an initialiser
                if not re.fullmatch(
                    r"[\s\w:&*<>,\-]*", tail.replace("const", "").replace("override", "")
                ):
                    return None
                return name
    return None


def functions(path):
    """Yields (name, first_line, line_count) for each function body in path."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_code(f.read())
    stack = []  # (kind, name, start_line)
    line = 1
    last_stmt_end = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            line += 1
        elif ch == "{":
            in_function = any(kind == "fn" for kind, _, _ in stack)
            head = text[last_stmt_end:i]
            name = None if in_function else function_name(head)
            if name:
                first = (
                    line
                    - head.rstrip().count("\n")
                    + len(re.match(r"\s*", head).group(0).split("\n"))
                    - 1
                )
                # The line that names the function.
                pos = head.rfind(name)
                first = line - head[pos:].count("\n")
                stack.append(("fn", name, first))
            else:
                stack.append(("block", None, line))
            last_stmt_end = i + 1
        elif ch == "}":
            if stack:
                kind, name, first = stack.pop()
                if kind == "fn":
                    yield name, first, line - first + 1
            last_stmt_end = i + 1
        elif ch == ";":
            last_stmt_end = i + 1


def sources(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build")
        )
        for name in sorted(filenames):
            if name.endswith(".cc") and not name.endswith("_test.cc"):
                yield os.path.join(dirpath, name)


def read_allow_list(path):
    allowed = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            if ":" not in entry:
                sys.exit(f"{path}:{number}: expected path:function, got {raw.strip()!r}")
            allowed[entry] = number
    return allowed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--max-lines", type=int, default=120)
    parser.add_argument("--allow", help="allow-list file (with --check)")
    args = parser.parse_args()
    root = os.path.abspath(args.root)

    found = []
    for path in sources(root):
        rel = os.path.relpath(path, root)
        for name, first, count in functions(path):
            found.append((count, rel, first, name))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))

    if not args.check:
        for count, rel, first, name in found[: args.top]:
            print(f"{count:5d}  {rel}:{first}  {name}")
        return 0

    allowed = read_allow_list(args.allow) if args.allow else {}
    long_ones = {
        f"{rel}:{name}": (count, first)
        for count, rel, first, name in found
        if count > args.max_lines
    }
    failures = []
    for key, (count, first) in sorted(long_ones.items()):
        if key not in allowed:
            failures.append(
                f"{key} (line {long_ones[key][1]}) is {count} lines, "
                f"over {args.max_lines}: split it into named functions"
            )
    for key, number in sorted(allowed.items(), key=lambda kv: kv[1]):
        if key not in long_ones:
            failures.append(
                f"{args.allow}:{number}: {key} is no longer over "
                f"{args.max_lines} lines (or is gone): remove it from the list"
            )
    for failure in failures:
        print(f"function_lengths: {failure}")
    if failures:
        return 1
    print(
        f"function_lengths: OK: no function over {args.max_lines} lines "
        f"beyond the {len(allowed)} allowed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
