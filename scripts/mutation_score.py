"""Scores of a mutation run, for scripts/mutation.sh (which runs it inside its throw-away copy of the repository).

For each module: mutmut's verdicts (``mutmut results --all true`` in the copy), then the mutants mutmut does not make,
because it only mutates inside functions: each module-level constant and each default of a class attribute, changed one at
a time (a string altered, a number raised by one, one item of a tuple or set dropped), with the fast tests that reach the
module (files of the tests mutmut's statistics saw reach it) run against each; then both together.

A mutant is killed when a test fails (or hangs past mutmut's timeout); every other outcome, "no tests" included, survives.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KILLED = {"killed", "timeout"}


@dataclass
class Score:
    killed: int = 0
    total: int = 0

    def line(self) -> str:
        percent = 100.0 * self.killed / self.total if self.total else 100.0
        return f"{self.killed}/{self.total} killed ({percent:.1f} %)"


def dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def mutmut_results(mutmut: str) -> dict[str, str]:
    """mutant name -> status, for every mutant of the last run."""
    answer = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    statuses = {}
    for line in answer.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status
    return statuses


def mutmut_diff(mutmut: str, name: str) -> str:
    shown = subprocess.run([mutmut, "show", name], capture_output=True, text=True).stdout.splitlines()
    changed = [line for line in shown if line[:1] in "-+" and line[:3] not in ("---", "+++")]
    return " | ".join(" ".join(line.split()) for line in changed)


# --- constants ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantMutant:
    where: str  # NAME or Class.attribute
    change: str
    start: tuple[int, int]
    end: tuple[int, int]
    text: str  # the replacement of the source between start and end


def _literal_mutants(where: str, node: ast.expr) -> Iterator[ConstantMutant]:
    span = ((node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield ConstantMutant(where, f"{node.value!r} altered", *span, repr("XX" + node.value + "XX"))
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        yield ConstantMutant(where, f"{node.value!r} + 1", *span, repr(node.value + 1))
    elif isinstance(node, ast.Tuple | ast.Set | ast.List) and len(node.elts) > 1:
        for index, item in enumerate(node.elts):
            kept = [e for i, e in enumerate(node.elts) if i != index]
            # a set literal has no ctx (an expression context): only tuples and lists are load/store targets
            rest = ast.Set(elts=kept) if isinstance(node, ast.Set) else type(node)(elts=kept, ctx=ast.Load())
            text = ast.unparse(rest) if not isinstance(node, ast.Tuple) else f"({ast.unparse(rest).strip('()')},)"
            yield ConstantMutant(where, f"{ast.unparse(item)[:60]} dropped", *span, text)
    elif isinstance(node, ast.Tuple | ast.Set | ast.List) and len(node.elts) == 1:
        yield from _literal_mutants(where, node.elts[0])
    elif isinstance(node, ast.Call):  # re.compile("..."), frozenset({...}), SettingSpec(..., default="900")
        for argument in [*node.args, *(keyword.value for keyword in node.keywords)]:
            yield from _literal_mutants(where, argument)


def constant_mutants(source: str) -> list[ConstantMutant]:
    found: list[ConstantMutant] = []
    tree = ast.parse(source)
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
            if isinstance(target, ast.Name) and target.id.isupper():
                found += _literal_mutants(target.id, statement.value)
        if isinstance(statement, ast.ClassDef):
            for field in statement.body:
                if isinstance(field, ast.AnnAssign) and field.value is not None and isinstance(field.target, ast.Name):
                    found += _literal_mutants(f"{statement.name}.{field.target.id}", field.value)
    return found


def apply(source: str, mutant: ConstantMutant) -> str:
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    data = source.encode()

    def at(position: tuple[int, int]) -> int:
        return offsets[position[0] - 1] + position[1]

    return (data[: at(mutant.start)] + mutant.text.encode() + data[at(mutant.end) :]).decode()


def tests_reaching(module: str) -> list[str]:
    """The test files with a fast test that mutmut's statistics saw calling a function of the module: whole files, since
    a test that only builds a dataclass or reads a constant calls no function mutmut traces."""
    stats = json.loads(Path("mutants/mutmut-stats.json").read_text())
    prefix = dotted(module) + "."
    files: set[str] = set()
    for function, names in stats["tests_by_mangled_function_name"].items():
        if function.startswith(prefix):
            files |= {name.partition("::")[0] for name in names}
    return sorted(files)


def run_constants(module: str, python: str) -> tuple[Score, list[str]]:
    path = Path(module)
    original = path.read_text()
    tests = tests_reaching(module)
    score, survivors = Score(), []
    if not tests:
        return score, ["no fast test reaches the module"]
    try:
        for mutant in constant_mutants(original):
            mutated = apply(original, mutant)
            if mutated == original:
                continue
            path.write_text(mutated)
            run = subprocess.run(
                [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow", *tests],
                capture_output=True,
                text=True,
                timeout=600,
            )
            score.total += 1
            if run.returncode != 0:
                score.killed += 1
            else:
                survivors.append(f"{mutant.where}: {mutant.change}")
    finally:
        path.write_text(original)
    return score, survivors


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: mutation_score.py MUTMUT PYTHON MODULE... (run by scripts/mutation.sh in its copy)", file=sys.stderr)
        return 2
    mutmut, python, modules = argv[0], argv[1], argv[2:]
    statuses = mutmut_results(mutmut)
    for module in modules:
        mine = {name: status for name, status in statuses.items() if name.startswith(dotted(module) + ".")}
        functions = Score(sum(status in KILLED for status in mine.values()), len(mine))
        constants, constant_survivors = run_constants(module, python)
        both = Score(functions.killed + constants.killed, functions.total + constants.total)
        print(f"{module}: {both.line()}: functions (mutmut) {functions.line()}, constants {constants.line()}")
        for name, status in sorted(mine.items()):
            if status not in KILLED:
                print(f"  {status}: {name}: {mutmut_diff(mutmut, name)}")
        for survivor in constant_survivors:
            print(f"  survived: constant {survivor}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
