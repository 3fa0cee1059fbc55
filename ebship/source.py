"""What is being shipped: the commit, its subject, the branch, and whether the work tree matches the commit."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ebship.errors import UsageError


@dataclass(frozen=True)
class Source:
    sha: str
    subject: str
    branch: str
    dirty_tree: str = ""  # the git tree id of the work tree when it differs from the commit

    @property
    def tag(self) -> str:
        """The image tag and default version label: the sha, or the sha plus the work tree's id when it is dirty.

        A dirty tree never borrows the commit's name: other bits under the same name would be a lie.
        """
        if self.dirty_tree:
            return f"{self.sha}-dirty-{self.dirty_tree[:12]}"
        return self.sha


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed in {root}: {result.stderr.strip()}")
    return result.stdout.strip()


def work_tree_id(root: Path) -> str:
    """The tree id git would record for the whole work tree (tracked and untracked, minus ignored files).

    Built in a throw-away index, so the repository's own index and files are untouched.
    """
    with tempfile.TemporaryDirectory() as scratch:
        index = str(Path(scratch) / "index")
        env = {"GIT_INDEX_FILE": index}
        _git(root, "read-tree", "HEAD", env=env)
        _git(root, "add", "-A", ".", env=env)
        return _git(root, "write-tree", env=env)


def ci_branch(environ: dict[str, str]) -> str:
    """The branch a CI run builds, as the CI service says it: CircleCI's CIRCLE_BRANCH, or GitHub Actions' GITHUB_REF
    when it is a branch ("refs/heads/..."; a pull request's is refs/pull/N/merge and names no branch to deploy: GitHub's
    variables reference, GITHUB_REF). "" when neither says: then git's checkout decides."""
    ref = environ.get("GITHUB_REF", "") if environ.get("GITHUB_ACTIONS") == "true" else ""
    return environ.get("CIRCLE_BRANCH") or (ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "")


def describe(root: Path, environ: dict[str, str] | None = None) -> Source:
    environ = dict(os.environ if environ is None else environ)
    if not (root / ".git").exists():
        sha = environ.get("CIRCLE_SHA1", "") or (environ.get("GITHUB_SHA", "") if environ.get("GITHUB_ACTIONS") == "true" else "")
        if not sha:
            raise UsageError(
                f"{root} is not a git work tree and neither CIRCLE_SHA1 nor GITHUB_SHA is set: cannot tell which commit to ship."
            )
        return Source(sha=sha, subject="", branch=ci_branch(environ))
    sha = _git(root, "rev-parse", "HEAD")
    subject = _git(root, "log", "-1", "--format=%s")
    # A detached checkout (GitHub's pull requests, CircleCI's tags) has no branch name of its own: the CI's word first.
    branch = ci_branch(environ) or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    head_tree = _git(root, "rev-parse", "HEAD^{tree}")
    tree = work_tree_id(root)
    return Source(sha=sha, subject=subject, branch=branch, dirty_tree="" if tree == head_tree else tree)
