# Shared helpers of the end-to-end shell tests (cli, sweep, pictures,
# output_files, optane_import). Source it after setting WORK (the test's
# temporary directory): each helper writes a command's output to
# $WORK/NAME.out and $WORK/NAME.err and counts checks in $passed / $failed;
# finish prints "N passed, M failed" and exits 1 on any failure.
# shellcheck shell=bash

passed=0
failed=0

# pass DESCRIPTION
pass() {
  passed=$((passed + 1))
  echo "PASS  $1"
}

# fail NAME WHY [FILE...]: prints the first lines of each non-empty FILE.
fail() {
  failed=$((failed + 1))
  echo "FAIL  $1: $2"
  shift 2
  for f in "$@"; do
    [ -s "$f" ] && sed 's/^/        | /' "$f" | head -n 25
  done
}

# run NAME COMMAND...: runs it, output to $WORK/NAME.{out,err}; exit in RC.
run() {
  local name=$1
  shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  RC=$?
}

# expect NAME WANT_EXIT COMMAND...: runs it and checks its exit status.
expect() {
  local name=$1 want=$2
  shift 2
  run "$name" "$@"
  if [ "$RC" -eq "$want" ]; then
    pass "$name (exit $RC)"
    return 0
  fi
  fail "$name" "exit $RC, want $want" "$WORK/$name.err" "$WORK/$name.out"
  return 1
}

# expect_text NAME FILE TEXT: FILE contains TEXT (fixed string).
expect_text() {
  local name=$1 file=$2 text=$3
  if grep -qF -- "$text" "$file"; then
    pass "$name mentions '$text'"
  else
    fail "$name" "output lacks '$text'" "$file"
  fi
}

# finish: the summary line; the exit status of the test.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
