""".github/workflows/deploy.yml read as data: it matches GitHub's workflow schema (bundled in check-jsonschema, so offline);
its jobs' conditions, evaluated for the pushes and pull requests that matter, deploy exactly the branches
environments.toml maps, each in the GitHub environment of the same name with an OIDC role; everything else builds and
tests with no secret, by the same commands as CircleCI's build-and-test job (which tests/test_circleci.py runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ebship import environments

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


def workflow() -> dict[Any, Any]:  # keys are not all strings: YAML 1.1 reads a bare `on` as True
    return yaml.safe_load(WORKFLOW.read_text())


def jobs() -> dict[str, dict[str, Any]]:
    return workflow()["jobs"]


def mapped() -> dict[str, str]:
    """Environment name -> its release branch, as environments.toml declares them."""
    declared = environments.load(ROOT / environments.DEFAULT_PATH)
    return {name: environment.branch for name, environment in declared.items() if environment.branch}


def environment_of(job: dict[str, Any]) -> str:
    """The environment a job deploys to ("" for a job that deploys nowhere)."""
    environment = job.get("environment")
    return (environment.get("name") if isinstance(environment, dict) else environment) or ""


def deploy_jobs() -> dict[str, dict[str, Any]]:
    return {name: job for name, job in jobs().items() if environment_of(job)}


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


# --- the schema ------------------------------------------------------------------------------------------------------


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflow_matches_githubs_workflow_schema():
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path):
    """The check above is worth something only if the bundled schema refuses what GitHub would refuse."""
    broken = tmp_path / "deploy.yml"
    broken.write_text(WORKFLOW.read_text().replace("id-token: write", "id-token: writable", 1))
    result = check_jsonschema(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "id-token" in result.stdout


# --- who runs what, for which event ----------------------------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<string>'[^']*')|(?P<name>[A-Za-z_][\w.]*)|(?P<op>==|!=|&&|\|\||\(|\)))")


def evaluate(expression: str, context: dict[str, str]) -> bool:
    """A job's `if:` for one event, in the part of GitHub's expression language the workflow uses: string literals,
    github.* names, ==, !=, &&, || and parentheses. GitHub compares strings ignoring case. Anything else fails the test
    rather than being guessed at."""
    python, position, expression = [], 0, expression.strip()
    while position < len(expression):
        token = TOKEN.match(expression, position)
        assert token and token.end() > position, f"cannot read {expression[position:]!r} in {expression!r}"
        position = token.end()
        if token["string"]:
            python.append(repr(token["string"][1:-1].lower()))
        elif token["name"]:
            assert token["name"] in context, f"{token['name']} in {expression!r}"
            python.append(repr(context[token["name"]].lower()))
        else:
            python.append({"&&": " and ", "||": " or "}.get(token["op"], token["op"]))
    return bool(eval("".join(python), {"__builtins__": {}}))  # built only from the tokens above


def triggered(event_name: str, ref: str) -> set[str]:
    """The jobs that run for one event, by the workflow's triggers and each job's condition."""
    document = workflow()
    triggers: dict[str, Any] = document["on"] if "on" in document else document[True]  # YAML 1.1 reads a bare `on` as true
    if event_name not in triggers:
        return set()
    if event_name == "push":
        assert triggers["push"] == {"branches": ["**"]}, "push runs for every branch and no tag"
    context = {"github.event_name": event_name, "github.ref": ref}
    return {name for name, job in jobs().items() if "if" not in job or evaluate(job["if"], context)}


def test_a_push_to_a_mapped_branch_runs_only_that_environments_deploy_job():
    assert mapped() == {"stg": "release/stg", "prod": "release/prod"}
    by_environment = {environment_of(job): name for name, job in deploy_jobs().items()}
    assert sorted(by_environment) == sorted(mapped()), "one deploy job per environment environments.toml maps a branch to"
    for environment, branch in mapped().items():
        assert triggered("push", f"refs/heads/{branch}") == {by_environment[environment]}, branch


@pytest.mark.parametrize(
    "event_name, ref",
    [
        ("push", "refs/heads/main"),
        ("push", "refs/heads/feature/release/stg"),
        ("push", "refs/heads/release/stg-hotfix"),
        ("push", "refs/heads/release"),
        ("pull_request", "refs/pull/7/merge"),  # a fork's pull request, whatever branch it targets
    ],
)
def test_every_other_push_and_every_pull_request_only_builds_and_tests(event_name, ref):
    assert triggered(event_name, ref) == {"build-and-test"}


def test_build_and_test_uses_no_secret_no_aws_and_circlecis_commands():
    job = jobs()["build-and-test"]
    assert "secrets." not in yaml.safe_dump(job)
    assert "environment" not in job and "permissions" not in job  # the workflow's contents: read only
    assert not [step for step in job["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    circleci = yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())["jobs"]["build-and-test"]["steps"]
    circleci_runs = [step["run"]["command"].strip() for step in circleci if isinstance(step, dict) and "run" in step]
    assert runs(job)[-2:] == circleci_runs
    assert workflow()["permissions"] == {"contents": "read"}


# --- how a deploy job deploys ----------------------------------------------------------------------------------------


def test_each_deploy_job_assumes_a_role_by_oidc_and_runs_inv_ci():
    for name, job in deploy_jobs().items():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        steps = job["steps"]
        (credentials,) = [i for i, step in enumerate(steps) if "configure-aws-credentials" in step.get("uses", "")]
        given = steps[credentials]["with"]
        assert given == {"role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}, name
        assert runs(job)[-1] == ".venv/bin/inv ci", name
        assert steps[-1]["run"] == runs(job)[-1] and credentials < len(steps) - 1, "credentials before inv ci"
        assert job["concurrency"] == {"group": f"deploy-{environment_of(job)}", "cancel-in-progress": False}, name


def test_the_deploy_jobs_differ_only_in_their_branch_and_environment():
    normalised = []
    for job in deploy_jobs().values():
        environment, branch = environment_of(job), mapped()[environment_of(job)]
        text = yaml.safe_dump(job).replace(f"refs/heads/{branch}", "BRANCH").replace(f"deploy-{environment}", "GROUP")
        normalised.append(text.replace(f"environment: {environment}", "environment: ENVIRONMENT"))
    assert len(normalised) == len(mapped()) and len(set(normalised)) == 1


def test_only_the_inv_ci_step_sees_the_registry_secrets():
    for name, job in jobs().items():
        for step in job["steps"]:
            uses_secrets = "secrets." in yaml.safe_dump(step)
            assert uses_secrets == (step.get("run") == ".venv/bin/inv ci"), f"{name}: {step.get('name', step)}"
        job_level = {key: value for key, value in job.items() if key != "steps"}
        assert "secrets." not in yaml.safe_dump(job_level), name
        if name in deploy_jobs():
            (secret_step,) = [step for step in job["steps"] if "secrets." in yaml.safe_dump(step)]
            assert sorted(secret_step["env"]) == ["REGISTRY_PASSWORD", "REGISTRY_USERNAME"]


def test_every_action_is_pinned_to_a_commit():
    """A tag can be moved to other code; a commit cannot."""
    for name, job in jobs().items():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"{name}: {step['uses']}"


# --- its documentation -----------------------------------------------------------------------------------------------


def test_the_docs_name_every_variable_and_secret_and_trust_each_deploy_environment():
    import json

    doc = (ROOT / "docs" / "github-actions.md").read_text()
    read = set(re.findall(r"\$\{\{ (?:vars|secrets)\.(\w+) \}\}", WORKFLOW.read_text()))
    variables = {"AWS_REGION", "AWS_ROLE_ARN", "IMAGE_REPOSITORY", "EB_APPLICATION", "EB_BUCKET"}
    assert read == variables | {"REGISTRY_USERNAME", "REGISTRY_PASSWORD"}
    assert not [name for name in read if f"`{name}`" not in doc]
    (policy,) = re.findall(r"```json\n(.*?)```", doc, re.DOTALL)
    (statement,) = json.loads(policy)["Statement"]
    subjects = statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    assert subjects == [f"repo:OWNER/REPO:environment:{environment_of(job)}" for job in deploy_jobs().values()]
