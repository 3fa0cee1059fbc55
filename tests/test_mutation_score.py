"""scripts/mutation_score.py's constant mutants, and scripts/mutation.sh's refusal of what it cannot measure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests_support import ROOT

spec = importlib.util.spec_from_file_location("mutation_score", ROOT / "scripts" / "mutation_score.py")
assert spec and spec.loader
mutation_score = importlib.util.module_from_spec(spec)
sys.modules["mutation_score"] = mutation_score
spec.loader.exec_module(mutation_score)

SOURCE = """import re
NAMES = ("a", "b", "c")
PATTERN = re.compile(r"^x+")
LIMIT = 5
ONE = ("only",)
lower = "not a constant"


class Defaults:
    wait: float = 1.5
    spec = Spec(default="80")
    name: str = "n"
"""


def mutated_sources():
    return {m.where + ": " + m.change: mutation_score.apply(SOURCE, m) for m in mutation_score.constant_mutants(SOURCE)}


def test_each_constant_and_default_is_changed_one_at_a_time():
    sources = mutated_sources()
    assert sorted(sources) == [
        "Defaults.name: 'n' altered",
        "Defaults.wait: 1.5 + 1",
        "LIMIT: 5 + 1",
        "NAMES: 'a' dropped",
        "NAMES: 'b' dropped",
        "NAMES: 'c' dropped",
        "ONE: 'only' altered",
        "PATTERN: '^x+' altered",
    ]
    assert "NAMES = ('a', 'c',)" in sources["NAMES: 'b' dropped"]
    assert "LIMIT = 6\n" in sources["LIMIT: 5 + 1"]
    assert "PATTERN = re.compile('XX^x+XX')" in sources["PATTERN: '^x+' altered"]
    assert "wait: float = 2.5" in sources["Defaults.wait: 1.5 + 1"]
    for source in sources.values():
        compile(source, "mutant", "exec")
        assert source.count("\n") == SOURCE.count("\n"), "only the constant changes"


def test_keyword_arguments_of_module_level_calls_are_mutated():
    source = 'SPEC = Spec("PORT", default="80", limit=3)\n'
    changes = sorted(m.change for m in mutation_score.constant_mutants(source))
    assert changes == ["'80' altered", "'PORT' altered", "3 + 1"]


def test_mutation_sh_refuses_a_module_it_cannot_measure():
    for args in ([], ["ebship/no_such_module.py"], ["README.md"]):
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "mutation.sh"), *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2, args
        assert result.stderr.count("\n") <= 2 and "usage: bash scripts/mutation.sh MODULE.py" in result.stderr
        assert "Traceback" not in result.stderr


def test_mutmut_copies_every_top_level_entry_of_the_repository_the_fast_tests_may_read():
    """mutmut's copy lacked .github/: tests/test_github_workflow.py failed there before any mutant ran."""
    import subprocess
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    copied = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]["also_copy"])
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    top_level = {path.split("/")[0] for path in tracked} - {"tests"}  # mutmut copies its tests itself
    assert top_level - copied == set()
