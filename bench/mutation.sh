#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the modules whose mistakes no other check would see:
# the score, the alert rules, the clip window, publishing and the scheduler.
# Each group runs in a scratch copy of the tree, mutating only its module(s) and running only
# the tests that exercise them, so it fits a small machine. Not part of CI (tens of minutes).
#
#   bench/mutation.sh [group ...]     groups: scoring alerts window publish scheduler (default: all)
#   results: bench/results/mutation/<group>.txt (every mutant and its status), summary on stdout
#
# Needs: pip install -e ".[test,mutation]" and the Redis of the tests on 127.0.0.1:6379.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/bench/results/mutation"
mkdir -p "$out"
max_children="${MUTMUT_MAX_CHILDREN:-2}"
# mutmut forks a warmed test process per mutant: torch's thread pools do not survive a fork.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false

declare -A MUTATE TESTS
MUTATE[scoring]='"monitor/backends/scoring.py"'
TESTS[scoring]='"tests/backends/test_scoring.py", "-m", "not slow"'
MUTATE[alerts]='"monitor/alerts/*"'
TESTS[alerts]='"tests/alerts", "-m", "not slow"'
MUTATE[window]='"monitor/window.py"'
TESTS[window]='"tests/test_window.py"'
MUTATE[publish]='"monitor/publish/*"'
TESTS[publish]='"tests/publish"'
MUTATE[scheduler]='"monitor/pipeline/scheduler.py"'
TESTS[scheduler]='"tests/pipeline/test_scheduler.py", "-m", "not slow"'

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(scoring alerts window publish scheduler)
for group in "${groups[@]}"; do
  [ -n "${MUTATE[$group]:-}" ] || { echo "unknown group $group" >&2; exit 2; }
  work="$(mktemp -d "/tmp/mutation-$group.XXXX")"
  cp -r "$root/monitor" "$root/tests" "$root/pyproject.toml" "$work/"
  find "$work" -name __pycache__ -prune -exec rm -rf {} +
  # Fewer hypothesis examples a mutant (the properties still run; a mutant rarely needs many to fail).
  find "$work/tests" -name '*.py' -exec sed -i -E 's/max_examples=[0-9]+/max_examples=8/' {} +
  cat >> "$work/pyproject.toml" <<TOML

[tool.mutmut]
source_paths = ["monitor"]
only_mutate = [${MUTATE[$group]}]
pytest_add_cli_args_test_selection = [${TESTS[$group]}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q", "--timeout=900"]
TOML
  echo "== $group: mutating ${MUTATE[$group]}, tests ${TESTS[$group]} (in $work)"
  (cd "$work" && PYTHONPATH= python3 -m mutmut run --max-children "$max_children" >"$out/$group.log" 2>&1) || true
  (cd "$work" && python3 -m mutmut results --all true >"$out/$group.txt" 2>&1) || true
  python3 - "$group" "$out/$group.txt" <<'PY'
import collections, sys
group, path = sys.argv[1], sys.argv[2]
counts = collections.Counter(line.rsplit(":", 1)[1].strip() for line in open(path) if ":" in line and "__mutmut_" in line)
total = sum(counts.values())
killed = counts.get("killed", 0) + counts.get("timeout", 0)
print(f"{group}: {total} mutants, {killed} killed ({100 * killed / max(total, 1):.0f}%), " +
      ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
done
