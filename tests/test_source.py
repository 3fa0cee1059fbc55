"""Which commit and branch a run ships: git's checkout, or the CI service's word where git has none (a detached HEAD)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ebship.errors import UsageError
from ebship.source import ci_branch, describe


@pytest.mark.parametrize(
    ("environ", "branch"),
    [
        ({"CIRCLE_BRANCH": "release/stg"}, "release/stg"),
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/release/prod"}, "release/prod"),
        # a pull request's ref names no branch: it must never map to an environment
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/7/merge"}, ""),
        ({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1.0"}, ""),
        ({"GITHUB_REF": "refs/heads/release/prod"}, ""),  # not under GitHub Actions: a stray variable decides nothing
        ({}, ""),
    ],
)
def test_the_ci_services_branch(environ, branch):
    assert ci_branch(environ) == branch


def git(root: Path, *args: str) -> str:
    identity = ["-c", "user.name=T", "-c", "user.email=t@e"]
    return subprocess.run(["git", *identity, *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_a_detached_checkout_under_github_actions_ships_the_pushed_branch(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("x")
    git(tmp_path, "add", "f")
    git(tmp_path, "commit", "-qm", "one")
    sha = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-q", "--detach")
    source = describe(tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/release/stg"})
    assert (source.sha, source.branch) == (sha, "release/stg")
    assert describe(tmp_path, {}).branch == "HEAD"


def test_without_git_the_ci_services_commit_is_shipped(tmp_path):
    github = describe(tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_SHA": "a" * 40, "GITHUB_REF": "refs/heads/main"})
    assert (github.sha, github.branch) == ("a" * 40, "main")
    with pytest.raises(UsageError, match="neither CIRCLE_SHA1 nor GITHUB_SHA"):
        describe(tmp_path, {})


def test_what_the_documented_wheel_build_leaves_is_ignored_so_the_next_label_is_the_commit():
    """`pip wheel --no-deps -w dist .` (docs/adopting.md) leaves build/ and dist/ in this repository's tree: a work tree
    that differs from the commit ships as `<sha>-dirty-<tree>`, so what the build leaves must be ignored."""
    root = Path(__file__).resolve().parents[1]
    left = ["build/lib/ebship/__init__.py", "build/bdist.linux-x86_64/x", "dist/eb_ship-0.1.0-py3-none-any.whl"]
    found = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=root, capture_output=True, text=True)
    assert found.stdout.split() == left
