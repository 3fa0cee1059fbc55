"""Bad input: every bad input tried, with the message it gets; for each, the stand-in's call counts show that no
mutating call was made (and the messages hold no traceback and no secret). The table in docs/reliability.md is
generated from what this suite records.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field

import pytest
from reliability_support import MUTATING, Recorder, make_project, start_standin, stop_standin
from tests_support import MARKER_PASSWORD, Project

pytestmark = pytest.mark.slow

APP = "badapp"
ENV_NAME = "badapp-env"
BUCKET = "bad-deploys"
SECRET = "Bad1nput-S3cret-v4lue"
TOML = f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n\n[rel.variables]\nSECRET_KEY = "${{BAD_SECRET}}"\n'


@dataclass
class Case:
    what: str  # the bad input, for the table
    args: tuple[str, ...]
    code: int  # expected exit code
    says: tuple[str, ...]  # what the message must contain
    env: dict[str, str | None] = field(default_factory=dict)  # None removes the variable
    files: dict[str, str] = field(default_factory=dict)  # files written into the project for this case
    hidden: tuple[str, ...] = ()  # values the output must not show


def variables(body: str) -> dict[str, str]:
    return {"environments.toml": f'[rel]\neb_environment = "{ENV_NAME}"\n\n[rel.variables]\n{body}'}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CASES = [
    Case(
        "settings missing: IMAGE_REPOSITORY, EB_APPLICATION, EB_BUCKET",
        ("eb.version",),
        2,
        ("Missing settings", "IMAGE_REPOSITORY", "EB_APPLICATION", "EB_BUCKET"),
        env={"IMAGE_REPOSITORY": None, "EB_APPLICATION": None, "EB_BUCKET": None},
    ),
    Case(
        "setting missing: REGISTRY_PASSWORD",
        ("docker.push",),
        2,
        ("Missing settings", "REGISTRY_PASSWORD"),
        env={"REGISTRY_PASSWORD": None},
    ),
    Case(
        "IMAGE_REPOSITORY with capitals and a tag",
        ("docker.build",),
        2,
        ("IMAGE_REPOSITORY", "lower-case"),
        env={"IMAGE_REPOSITORY": "Quay.io/Acme/Web:v1"},
    ),
    Case("AWS_REGION malformed", ("eb.version",), 2, ("AWS_REGION", "region"), env={"AWS_REGION": "moon-base"}),
    Case("DEPLOY_TIMEOUT not a number", ("eb.deploy", "--env", "rel"), 2, ("DEPLOY_TIMEOUT",), env={"DEPLOY_TIMEOUT": "soon"}),
    Case("CONTAINER_PORT not a number", ("eb.version",), 2, ("CONTAINER_PORT",), env={"CONTAINER_PORT": "eighty"}),
    Case("ROLLBACK neither true nor false", ("eb.deploy", "--env", "rel"), 2, ("ROLLBACK",), env={"ROLLBACK": "maybe"}),
    Case(
        "ACCEPTED_HEALTH an unknown colour",
        ("eb.deploy", "--env", "rel"),
        2,
        ("ACCEPTED_HEALTH",),
        env={"ACCEPTED_HEALTH": "Blue"},
    ),
    Case(
        "AWS_ENDPOINT_URL not http(s)", ("eb.version",), 2, ("AWS_ENDPOINT_URL",), env={"AWS_ENDPOINT_URL": "ftp://127.0.0.1:1"}
    ),
    Case("EB_BUCKET not a bucket name", ("s3.auth",), 2, ("EB_BUCKET",), env={"EB_BUCKET": "Not_A_Bucket"}),
    Case(
        "EB_APPLICATION with leading white space",
        ("eb.version",),
        2,
        ("EB_APPLICATION", "white space"),
        env={"EB_APPLICATION": " " + APP},
    ),
    Case(
        "REGISTRY_PASSWORD in .env",
        ("docker.push",),
        2,
        ("REGISTRY_PASSWORD is in .env",),
        files={".env": f"REGISTRY_PASSWORD={MARKER_PASSWORD}\n"},
        hidden=(MARKER_PASSWORD,),
    ),
    Case("--env not given", ("eb.deploy",), 2, ("Name the environment",)),
    Case("unknown environment name", ("eb.deploy", "--env", "nosuch"), 2, ("Unknown environment 'nosuch'", "rel")),
    Case(
        "environment name with invalid characters",
        ("eb.deploy", "--env", "rel"),
        2,
        ("eb_environment",),
        files={"environments.toml": '[rel]\neb_environment = "bad_name!"\n'},
    ),
    Case(
        "environment name too long (41 characters)",
        ("eb.deploy", "--env", "rel"),
        2,
        ("eb_environment",),
        files={"environments.toml": f'[rel]\neb_environment = "{"e" * 41}"\n'},
    ),
    Case(
        "environment name unknown to Elastic Beanstalk",
        ("eb.deploy", "--env", "rel"),
        2,
        ("No environment named",),
        files={"environments.toml": '[rel]\neb_environment = "badapp-missing"\n'},
    ),
    Case(
        "environments.toml not valid TOML",
        ("eb.deploy", "--env", "rel"),
        2,
        ("not valid TOML",),
        files={"environments.toml": "[rel\neb_environment = \n"},
    ),
    Case(
        "Dockerrun template not valid JSON",
        ("eb.version",),
        2,
        ("not valid JSON",),
        files={"Dockerrun.aws.json.template": '{"AWSEBDockerrunVersion": "1", "Image": {"Name": "{{IMAGE}}"'},
    ),
    Case(
        "Dockerrun template without Ports",
        ("eb.version",),
        2,
        ("not a valid Dockerrun.aws.json version 1",),
        files={"Dockerrun.aws.json.template": '{"AWSEBDockerrunVersion": "1", "Image": {"Name": "{{IMAGE}}"}}'},
    ),
    Case(
        "Dockerrun template with an unknown placeholder",
        ("eb.version",),
        2,
        ("{{REGION}}",),
        files={
            "Dockerrun.aws.json.template": '{"AWSEBDockerrunVersion": "1", "Image": {"Name": "{{IMAGE}}"}, '
            '"Ports": [{"ContainerPort": "{{PORT}}"}], "Region": "{{REGION}}"}'
        },
    ),
    Case(
        "Dockerrun template of version 2",
        ("eb.version",),
        2,
        ("AWSEBDockerrunVersion",),
        files={
            "Dockerrun.aws.json.template": '{"AWSEBDockerrunVersion": 2, "Image": {"Name": "{{IMAGE}}"}, '
            '"Ports": [{"ContainerPort": "{{PORT}}"}]}'
        },
    ),
    Case("version label with '/'", ("eb.version", "--label", "a/b"), 2, ("1-100 characters without '/'",)),
    Case("version label of 101 characters", ("eb.version", "--label", "v" * 101), 2, ("1-100 characters",)),
    Case(
        "deploy of a version never registered",
        ("eb.deploy", "--env", "rel", "--label", "never-registered"),
        2,
        ("No version 'never-registered'",),
    ),
    Case(
        "application that does not exist",
        ("eb.version",),
        2,
        ("No Elastic Beanstalk application",),
        env={"EB_APPLICATION": "no-such-app"},
    ),
    Case("bucket that does not exist", ("s3.auth",), 2, ("does not exist",), env={"EB_BUCKET": "no-such-bucket"}),
    Case("bucket in another region", ("eb.version",), 2, ("eu-west-1",), env={"EB_BUCKET": "bad-elsewhere"}),
    Case(
        "eb.env: unset variables",
        ("eb.env", "--env", "rel"),
        2,
        ("UNSET_ONE", "UNSET_TWO"),
        files=variables('A = "${UNSET_ONE}"\nB = "x-${UNSET_TWO}"\n'),
    ),
    Case(
        "eb.env: reference in shell syntax",
        ("eb.env", "--env", "rel"),
        2,
        ("A",),
        files=variables('A = "${BAD_SECRET:-default}"\n'),
        hidden=(SECRET,),
    ),
    Case(
        "eb.env: value over 256 characters",
        ("eb.env", "--env", "rel"),
        2,
        ("LONG", "256"),
        files=variables(f'LONG = "{"v" * 257}"\n'),
        hidden=("v" * 257,),
    ),
    Case("eb.env: key over 128 characters", ("eb.env", "--env", "rel"), 2, ("128",), files=variables(f'{"K" * 129} = "v"\n')),
    Case(
        "eb.env: over 4,096 bytes in all",
        ("eb.env", "--env", "rel"),
        2,
        ("4",),
        files=variables("".join(f'K{i} = "{"v" * 250}"\n' for i in range(17))),
    ),
    Case(
        "eb.env: ',' in a secret value",
        ("eb.env", "--env", "rel"),
        2,
        ("SECRET_KEY", "','"),
        files=variables('SECRET_KEY = "${BAD_SECRET},$2b$12"\n'),
        hidden=(SECRET,),
    ),
    Case(
        "eb.env: ',' and '*' in a value",
        ("eb.env", "--env", "rel"),
        2,
        ("HOSTS", "','"),
        files=variables('HOSTS = "a.example,*.example"\n'),
        hidden=("a.example,*.example",),
    ),
    Case(
        "eb.env: '=' in a key",
        ("eb.env", "--env", "rel"),
        2,
        ("MY=KEY", "'='"),
        files=variables('"MY=KEY" = "x"\n'),
    ),
    Case(
        "eb.env: NUL in a value",
        ("eb.env", "--env", "rel"),
        2,
        ("NUL", "U+0000"),
        files=variables('NUL = "before\\u0000after"\n'),
        hidden=("before",),
    ),
    Case(
        "no Docker engine",
        ("docker.build",),
        2,
        ("No Docker engine answers",),
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    ),
    Case(
        "wrong registry password",
        ("docker.push",),
        1,
        ("refused the login", "REGISTRY_PASSWORD"),
        env={"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong"},
        hidden=(MARKER_PASSWORD,),
    ),
    Case(
        "unreachable AWS endpoint",
        ("eb.deploy", "--env", "rel"),
        1,
        ("AWS could not be reached", "AWS_ENDPOINT_URL"),
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"},
    ),
    Case(
        "CI=true and no deploy target",
        ("ci",),
        2,
        ("CI=true but no deploy target",),
        env={"EB_APPLICATION": None, "EB_BUCKET": None},
    ),
    Case(
        "DEPLOY_TIMEOUT empty", ("eb.deploy", "--env", "rel"), 2, ("DEPLOY_TIMEOUT is set but empty",), env={"DEPLOY_TIMEOUT": ""}
    ),
    Case("AUTH_KEY empty", ("s3.auth",), 2, ("AUTH_KEY is set but empty",), env={"AUTH_KEY": ""}),
    Case("AUTH_FORMAT empty", ("s3.auth",), 2, ("AUTH_FORMAT is set but empty",), env={"AUTH_FORMAT": ""}),
    Case("eb.events --count 0", ("eb.events", "--env", "rel", "--count", "0"), 2, ("--count takes a whole number",)),
    Case("eb.events --count -5", ("eb.events", "--env", "rel", "--count", "-5"), 2, ("--count takes a whole number",)),
    Case("eb.events --count abc", ("eb.events", "--env", "rel", "--count", "abc"), 2, ("--count takes a whole number",)),
    Case("eb.prune --keep abc", ("eb.prune", "--keep", "abc"), 2, ("--keep takes a whole number",)),
    Case("Invoke's own dry run (inv -R)", ("-R", "eb.deploy", "--env", "rel"), 2, ("inv -R/--dry is not supported", "--dry-run")),
    Case("local.up --pace banana", ("local.up", "--pace", "banana"), 2, ("--pace", "banana")),
    Case(
        "no AWS credentials at all",
        ("eb.deploy", "--env", "rel"),
        2,
        ("No AWS credentials found", "AWS_PROFILE"),
        env={"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "HOME": "/nonexistent"},
    ),
    Case(
        "no AWS credentials: inv ci --dry-run",
        ("ci", "--dry-run", "--env", "rel"),
        2,
        ("No AWS credentials found", "result        STOPPED"),
        env={"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "HOME": "/nonexistent"},
    ),
    Case(
        "no AWS credentials: inv doctor",
        ("doctor", "--env", "rel"),
        2,
        ("No AWS credentials found", "SKIP  bucket"),
        env={"AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "HOME": "/nonexistent"},
    ),
    Case(
        "AWS_PROFILE naming a missing profile",
        ("s3.auth",),
        2,
        ("The AWS profile 'missing' (AWS_PROFILE)",),
        env={
            "AWS_ENDPOINT_URL": None,
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
            "HOME": "/nonexistent",
            "AWS_PROFILE": "missing",
        },
    ),
    Case(
        "AWS access key without its secret key",
        ("eb.status", "--env", "rel"),
        2,
        ("AWS_SECRET_ACCESS_KEY is missing",),
        env={"AWS_ENDPOINT_URL": None, "AWS_SECRET_ACCESS_KEY": None, "HOME": "/nonexistent"},
    ),
    Case(
        ".env not UTF-8 (a Latin-1 byte)",
        ("eb.deploy", "--env", "rel"),
        2,
        (".env is not UTF-8 text (line 2)",),
        files={".env": "CONTAINER_PORT=80\nNOTE=caf\udce9\n"},
    ),
]


def run_case(project: Project, case: Case) -> tuple[int, str, str]:
    originals = {name: (project.root / name).read_text() if (project.root / name).exists() else None for name in case.files}
    for name, text in case.files.items():
        (project.root / name).write_text(text, encoding="utf-8", errors="surrogateescape")  # a lone surrogate: a raw byte
    env = {key: value for key, value in {**project.env, **case.env}.items() if value is not None}
    try:
        result = Project(project.root, env).inv(*case.args, timeout=300)
    finally:
        for name, original in originals.items():
            if original is None:
                (project.root / name).unlink()
            else:
                (project.root / name).write_text(original)
    return result.returncode, result.stdout, result.stderr


def test_every_bad_input_is_refused_clearly_before_any_change(tmp_path, registry, base_image, engine):
    recorder = Recorder("bad_input", "Bad input: each bad input tried, its message, and the mutating calls it made")
    standin = start_standin(tmp_path / "standin", application=APP, environments=(ENV_NAME,), bucket=BUCKET)
    problems: list[str] = []
    try:
        from reliability_support import clients

        _, s3 = clients(standin.endpoint_url)
        s3.create_bucket(Bucket="bad-elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        project = make_project(
            tmp_path / "project",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository="acme/bad-input",
            bucket=BUCKET,
            application=APP,
            environments_toml=TOML,
            BAD_SECRET=SECRET,
        )
        for args in (("docker.build",), ("docker.push",)):
            project.inv(*args, check=True)
        for case in CASES:
            standin.reset_calls()
            code, stdout, stderr = run_case(project, case)
            calls = standin.calls()
            mutating = {op: count for op, count in calls.items() if op in MUTATING}
            output = stdout + stderr
            message = " / ".join(line.strip() for line in stderr.strip().splitlines()[:4]).replace(str(project.root), "<project>")
            case_problems = []
            if code != case.code:
                case_problems.append(f"exit {code}, expected {case.code}")
            missing = [text for text in case.says if text not in output]
            if missing:
                case_problems.append(f"the message lacks {missing}")
            if mutating:
                case_problems.append(f"mutating calls {mutating}")
            if "Traceback" in output or "Unexpected error" in output:
                case_problems.append("a traceback")
            if any(value in output for value in (*case.hidden, MARKER_PASSWORD, SECRET)):
                case_problems.append("a secret or refused value was echoed")
            recorder.count(
                bad_inputs=1,
                refused_cleanly=int(not case_problems),
                mutating_calls=sum(mutating.values()),
                problems=int(bool(case_problems)),
            )
            recorder.row(
                input=case.what,
                command="inv " + " ".join(a if len(a) < 30 else a[:27] + "..." for a in case.args),
                exit=code,
                message=message[:300],
                calls=calls,
                mutating_calls=mutating,
                problems=case_problems,
            )
            problems += [f"{case.what}: {problem}\n    {message[:300]}" for problem in case_problems]
    finally:
        leftovers = stop_standin(standin, engine)
        recorder.finish()
    assert recorder.data["figures"]["bad_inputs"] == len(CASES)
    assert not problems, "\n".join(problems)
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"
    json.dumps(recorder.data)  # the table's source is plain JSON
