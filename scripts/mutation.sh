#!/usr/bin/env bash
# Mutation score of the fast suite (the tests not marked slow) for each MODULE: how many mutants of its code some test
# kills, with the survivors listed. mutmut mutates inside functions ([tool.mutmut] in pyproject.toml);
# scripts/mutation_score.py adds the module-level constants and class defaults mutmut leaves alone.
#   bash scripts/mutation.sh ebship/watch.py [MODULE.py ...]
# MUTATION_JOBS (default 2) mutants run at once; MUTATION_KEEP=1 keeps the copy to inspect survivors with mutmut.
# Everything happens in a throw-away copy of the working tree (mutmut writes mutants/ and runs the tests there; tests
# copy the project through git, so the copy is a repository of its own); the working tree is left as it was.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
usage="usage: bash scripts/mutation.sh MODULE.py... (paths in the repository, e.g. ebship/watch.py)"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
for module in "$@"; do
  if [[ $module != *.py || ! -f $root/$module ]]; then
    echo "mutation.sh: $module is not a Python file of the repository; $usage" >&2
    exit 2
  fi
done
for tool in python mutmut; do
  [ -x "$venv/bin/$tool" ] || { echo "mutation.sh: $venv/bin/$tool missing: run bash scripts/setup.sh first" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/eb-ship-mutation.XXXXXX")
if [ -n "${MUTATION_KEEP:-}" ]; then
  echo "mutation.sh: the copy stays in $work/repo (mutmut show NAME, mutmut browse there)" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
copy=$work/repo
mkdir "$copy"
(cd "$root" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' file; do
  if [ -e "$root/$file" ]; then (cd "$root" && cp --parents -- "$file" "$copy/"); fi
done
# Tests copy the project with git ls-files from the mutants/ directory: there, it must not be ignored.
sed -i '/^mutants\/$/d' "$copy/.gitignore"
git -C "$copy" init -q -b main
git -C "$copy" add -A
git -C "$copy" -c user.name=mutation -c user.email=mutation@localhost commit -qm "mutation copy"

modules_toml=$(printf '"%s", ' "$@")
sed -i "s|^source_paths = .*|source_paths = [${modules_toml%, }]|" "$copy/pyproject.toml"
names=()
for module in "$@"; do
  dotted=${module%.py}
  names+=("${dotted//\//.}.*")
done

echo "mutation.sh: mutating $* in $copy (this takes minutes)" >&2
if ! (cd "$copy" && "$venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" "${names[@]}") >"$work/mutmut.log" 2>&1; then
  tr '\r' '\n' <"$work/mutmut.log" | tail -n 40 >&2
  echo "mutation.sh: mutmut failed (its output above)" >&2
  exit 1
fi
cd "$copy"
"$venv/bin/python" "$root/scripts/mutation_score.py" "$venv/bin/mutmut" "$venv/bin/python" "$@"
