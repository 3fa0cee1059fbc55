"""Secrets: marker secrets in the registry password (quotes, `$`, backslashes, non-ASCII: MARKER_PASSWORD) and in
environment variables (one with every character Elastic Beanstalk accepts; one with characters it refuses, which must
be refused without being echoed). Searched, in every encoding they could travel in, across the output of every task
(normal runs, --dry-run, failures, the traceback of an unexpected error), every file the tools wrote (the project's
untracked files such as .local/, a HOME and a TMPDIR of their own, the stand-in's server log) and every layer of every
image built: zero occurrences. The auth object and the bundles in S3 are encrypted; environment values read back
byte-equal.

The unexpected error is provoked on purpose: a `sitecustomize` module (on PYTHONPATH for those runs only) makes the
auth-file writer and the environment diff raise errors that carry the secrets as Python shows them (str, repr in a
KeyError, inside a container's repr, a chained cause), so that the masking of tracebacks is tested on real text.
"""

from __future__ import annotations

import base64
import gzip
import json
import tarfile
import urllib.parse

import pytest
from reliability_support import Recorder, clients, environment, make_project, start_standin, stop_standin
from tests_support import MARKER_PASSWORD, MARKER_USERNAME, Project

pytestmark = pytest.mark.slow

APP = "secretapp"
ENV_NAME = "secretapp-env"
BUCKET = "secret-deploys"
# Every character Elastic Beanstalk documents for values: letters, digits, space, tab and _ . : / = + \ - @ ' "
ACCEPTED = "Acc3pt-K3y-m4rk _.:/=+\\-@'\"\tend"
# Characters it refuses: $ , * and non-ASCII
REFUSED = "R3fus3d-K3y-m4rk$2b$12,*€"
SECRETS = {"registry password": MARKER_PASSWORD, "accepted env value": ACCEPTED, "refused env value": REFUSED}
CORES = ("M4rk3r", "Acc3pt-K3y", "R3fus3d-K3y")  # what no encoding of a secret but base64 hides

# Plain values must stay visible: a note the crashing app prints, and values that also appear in names and URLs.
PUBLIC_NOTE = "sh0w-me-pl4in"
TOML = (
    f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n\n[rel.variables]\n'
    'DJANGO_SETTINGS_MODULE = "sampleapp.settings"\nSECRET_KEY = "${SECRET_ACCEPTED}"\n'
    f'PUBLIC_NOTE = "{PUBLIC_NOTE}"\nAPP_NAME = "{APP}"\nAPP_HOST = "127.0.0.1"\n'
)
# The last CMD wins: a release that prints its environment (one variable a line, then all as Python shows them) and
# exits, so that the stand-in's failure event carries the secret in its log tail.
CRASH_CMD = (
    '\nCMD ["python3", "-c", "import os, sys; '
    "print('SECRET_KEY=' + os.environ.get('SECRET_KEY', '<unset>')); "
    "print('PUBLIC_NOTE=' + os.environ.get('PUBLIC_NOTE', '<unset>')); "
    'print(dict(os.environ)); sys.exit(3)"]\n'
)
REFUSED_TOML = TOML.replace("${SECRET_ACCEPTED}", "${SECRET_REFUSED}")

SITECUSTOMIZE = """
import os, sys
sys.path.insert(0, os.getcwd())
def _boom_auth(credentials, file_format):
    password = credentials.password
    try:
        {password: 1}[password + "!"]
    except KeyError as error:
        raise RuntimeError(f"unexpected: {credentials.username}:{password} {[password]!r} {password!a}") from error
def _boom_diff(current, values, prune):
    inner = {key: value for key, value in values.items()}
    raise KeyError(inner["SECRET_KEY"]) from ValueError(repr(inner))
import ebship.registry_auth, ebship.release, ebship.envvars
ebship.registry_auth.auth_file = _boom_auth
ebship.envvars.diff = _boom_diff
"""


def forms(secret: str, username: str = "") -> dict[str, bytes]:
    """The encodings a secret could leak in."""
    found = {
        "raw": secret,
        "repr": repr(secret)[1:-1],
        "ascii": ascii(secret)[1:-1],
        "json": json.dumps(secret)[1:-1],
        "json-utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "base64": base64.b64encode(secret.encode()).decode(),
    }
    if username:
        found["base64 user:password"] = base64.b64encode(f"{username}:{secret}".encode()).decode()
    encoded = {name: text.encode() for name, text in found.items()}
    encoded |= {
        f"{name} (latin-1)": text.encode("latin-1")
        for name, text in found.items()
        if text.isascii() is False and all(ord(c) < 256 for c in text)
    }
    return encoded


NEEDLES = {
    f"{name} / {form}": value
    for name, secret in SECRETS.items()
    for form, value in forms(secret, MARKER_USERNAME if name == "registry password" else "").items()
}
NEEDLES |= {f"core {core}": core.encode() for core in CORES}


def leaks(data: bytes) -> list[str]:
    return [name for name, needle in NEEDLES.items() if needle in data]


def scan_image(engine, reference: str, directory) -> tuple[int, list[str]]:
    """Saves the image and searches every member of the archive (layers, config, manifests), layers uncompressed."""
    path = directory / (reference.replace("/", "_").replace(":", "_") + ".tar")
    with open(path, "wb") as archive:
        for chunk in engine.images.get(reference).save(named=True):
            archive.write(chunk)
    found, members = [], 0
    with tarfile.open(path) as outer:
        for member in outer:
            if not member.isfile():
                continue
            members += 1
            contents = outer.extractfile(member)
            assert contents is not None, member.name  # a regular file always has contents to read
            data = contents.read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            found += [f"{reference} {member.name}: {leak}" for leak in leaks(data)]
    path.unlink()
    return members, found


def scan_files(root, exclude=()) -> tuple[int, list[str]]:
    files, found = 0, []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not any(part in exclude for part in path.parts):
            files += 1
            found += [f"{path}: {leak}" for leak in leaks(path.read_bytes())]
    return files, found


def test_no_secret_leaks_anywhere(tmp_path, registry, base_image, engine):
    recorder = Recorder("secrets", "Secrets: marker secrets searched in every output, file the tools wrote, and image layer")
    recorder.data["parameters"]["markers"] = {name: ascii(value) for name, value in SECRETS.items()}
    standin = start_standin(tmp_path / "standin", application=APP, environments=(ENV_NAME,), bucket=BUCKET)
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    problems: list[str] = []
    outputs: list[tuple[str, str]] = []
    try:
        project = make_project(
            tmp_path / "project",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository="acme/secrets",
            bucket=BUCKET,
            application=APP,
            environments_toml=TOML,
            HOME=str(home),
            TMPDIR=str(temp),
            SECRET_ACCEPTED=ACCEPTED,
            SECRET_REFUSED=REFUSED,
        )
        assert project.env["REGISTRY_PASSWORD"] == MARKER_PASSWORD

        def run(
            kind: str, *args: str, expect: int | None = 0, env: dict[str, str] | None = None, toml: str | None = None
        ) -> None:
            if toml is not None:
                (project.root / "environments.toml").write_text(toml)
            try:
                result = project.inv(*args, env=env)
            finally:
                (project.root / "environments.toml").write_text(TOML)
            label = f"{kind}: inv {' '.join(args)}"
            outputs.append((label, result.stdout + result.stderr))
            if expect is not None and result.returncode != expect:
                problems.append(
                    f"{label} exited {result.returncode}, expected {expect}\n{result.stdout[-800:]}\n{result.stderr[-800:]}"
                )

        # normal runs
        run("normal", "ci")
        run("normal", "eb.env", "--env", "rel")
        # an app that prints its environment while crashing, seen through ci, eb.events and eb.deploy
        dockerfile = project.root / "Dockerfile"
        release = dockerfile.read_text()
        dockerfile.write_text(release + CRASH_CMD)
        crashing = project.commit("A release that prints its environment and crashes")
        run("crash", "ci", expect=1)
        run("crash", "eb.events", "--env", "rel", "--count", "50")
        run("crash", "eb.deploy", "--env", "rel", "--label", crashing, expect=1)
        dockerfile.write_text(release)
        project.commit("Back to the release that serves")
        run("normal", "ci")
        for label, output in outputs:
            # Both directions: the printed secret is masked where it was printed, and the plain note is shown. The app's
            # output reaches ci and eb.deploy through the tail logs they fetch ("Why it failed"); events never carry it.
            explained = label.startswith(("crash: inv ci", "crash: inv eb.deploy"))
            if explained and not ("SECRET_KEY=****" in output and f"PUBLIC_NOTE={PUBLIC_NOTE}" in output):
                problems.append(f"{label}: the app's printed environment is not shown as expected\n{output[-1500:]}")
        args: tuple[str, ...]
        for args in (
            ("s3.auth",),
            ("eb.version",),
            ("eb.deploy", "--env", "rel"),
            ("eb.status", "--env", "rel"),
            ("eb.events", "--env", "rel", "--count", "50"),
            ("doctor", "--env", "rel"),
            ("eb.prune", "--keep", "5"),
        ):
            run("normal", *args)
        # dry runs, with something to change so that each plan shows its parameters
        changed = {"SECRET_ACCEPTED": ACCEPTED + "2", "REGISTRY_PASSWORD": MARKER_PASSWORD + "2"}
        for args in (
            ("ci", "--dry-run"),
            ("docker.build", "--dry-run"),
            ("docker.push", "--dry-run"),
            ("s3.auth", "--dry-run"),
            ("eb.version", "--dry-run"),
            ("eb.deploy", "--env", "rel", "--dry-run"),
            ("eb.env", "--env", "rel", "--dry-run"),
            ("eb.env", "--env", "rel", "--dry-run", "--prune"),
        ):
            run("dry run", *args, env=changed)
        # failures
        wrong = {"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong"}
        run("failure", "docker.push", expect=1, env=wrong)
        run("failure", "doctor", "--env", "rel", expect=2, env=wrong)
        run("failure", "eb.env", "--env", "rel", expect=2, toml=REFUSED_TOML)
        run("failure", "eb.env", "--env", "rel", "--relaxed", expect=None, toml=REFUSED_TOML)
        run("failure", "s3.auth", expect=2, env={"EB_BUCKET": "no-such-bucket"})
        # unexpected errors: tracebacks that carry the secrets
        injected = {"PYTHONPATH": str(site)}
        run("traceback", "s3.auth", expect=1, env=injected)
        run("traceback", "eb.env", "--env", "rel", expect=1, env={**injected, "SECRET_ACCEPTED": ACCEPTED + "3"})
        for label, output in outputs:
            if label.startswith("dry run: inv eb.env") and f"({ENV_NAME})" not in output:
                problems.append(f"{label}: the environment's name is masked (a plain value it holds was taken for a secret)")
            if label.startswith("traceback") and "Traceback" not in output:
                problems.append(f"{label}: no traceback was printed, so the test proves nothing")
        output_leaks = [f"{label}: {leak}" for label, output in outputs for leak in leaks(output.encode())]

        # what the environment holds: byte-equal values; what S3 holds: encrypted
        eb, s3 = clients(standin.endpoint_url)
        settings = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName=ENV_NAME)
        values = {
            o["OptionName"]: o.get("Value")
            for o in settings["ConfigurationSettings"][0]["OptionSettings"]
            if o["Namespace"] == "aws:elasticbeanstalk:application:environment"
        }
        if values.get("SECRET_KEY", "").encode() != ACCEPTED.encode():
            problems.append("SECRET_KEY does not read back byte-equal")
        objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        unencrypted = [
            o["Key"] for o in objects if s3.head_object(Bucket=BUCKET, Key=o["Key"]).get("ServerSideEncryption") != "AES256"
        ]
        auth = s3.head_object(Bucket=BUCKET, Key="registry-auth/config.json")
        if auth.get("ServerSideEncryption") != "AES256":
            problems.append("the auth object is not encrypted")
        if unencrypted:
            problems.append(f"objects stored unencrypted: {unencrypted}")
        env = environment(standin.endpoint_url, ENV_NAME)
        if (env["Status"], env["Health"]) != ("Ready", "Green"):
            problems.append(f"environment {env['Status']} {env['Health']} after the runs")

        # every file the tools wrote: the project's untracked files (.local/ among them), HOME, TMPDIR
        written = [project.root / name for name in Project.git(project, "ls-files", "-o").splitlines()]
        file_leaks: list[str] = []
        for path in written:
            if path.is_file():
                file_leaks += [f"{path.relative_to(project.root)}: {leak}" for leak in leaks(path.read_bytes())]
        home_files, home_leaks = scan_files(home)
        temp_files, temp_leaks = scan_files(temp)
        file_leaks += home_leaks + temp_leaks
        # the stand-in's own log (the server's, written while it served every call above)
        log_leaks = [f"server.log: {leak}" for leak in leaks(standin.log_path.read_bytes())]

        # every layer of every image built
        sha = project.git("rev-parse", "HEAD")
        repository = project.env["IMAGE_REPOSITORY"]
        image_members, image_leaks = 0, []
        for reference in (f"{repository}:{sha}", f"{repository}:{sha}-test", f"{repository}:latest"):
            members, found = scan_image(engine, reference, tmp_path)
            image_members += members
            image_leaks += found

        leaks_found = output_leaks + file_leaks + log_leaks + image_leaks
        recorder.count(
            task_runs=len(outputs),
            outputs_searched=len(outputs),
            forms_searched=len(NEEDLES),
            files_searched=len(written) + home_files + temp_files + 1,
            image_members_searched=image_members,
            images_searched=3,
            leaks_found=len(leaks_found),
            unencrypted_objects=len(unencrypted),
        )
        recorder.data["parameters"]["files_written"] = sorted(str(p.relative_to(project.root)) for p in written)
        for label, output in outputs:
            recorder.row(run=label, leaks=[leak for leak in leaks(output.encode())])
        recorder.data["leaks"] = leaks_found
        problems += leaks_found
    finally:
        leftovers = stop_standin(standin, engine)
        recorder.finish()
    assert not problems, "\n".join(problems)
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"
