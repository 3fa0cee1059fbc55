"""Adopting eb-ship into an app of one's own: the package, `python -m ebship init`, and the local rehearsal of a second
app unlike the sample (tests/adopt/: plain WSGI, port 8080, two-stage Dockerfile, 10 s start-up, its own test script)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from tests_support import base_env

from ebship import dockerrun, environments, init

ROOT = Path(__file__).resolve().parent.parent
ADOPT = ROOT / "tests" / "adopt"
WRITTEN = (
    "tasks.py",
    "environments.toml",
    "Dockerrun.aws.json.template",
    ".env.example",
    ".dockerignore",
    ".circleci/config.yml",
    ".circleci/aws-credentials.sh",
)


def copy_app(destination: Path) -> Path:
    shutil.copytree(ADOPT, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def run_init(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ebship init` from this repository's source, in ``root``."""
    return subprocess.run(
        [sys.executable, "-m", "ebship", *args],
        cwd=root,
        env={**base_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_init_writes_every_file_with_the_port_the_dockerfile_exposes(tmp_path):
    app = copy_app(tmp_path / "greeter")
    result = run_init(app, "init")
    assert result.returncode == 0, result.stderr
    for name in WRITTEN:
        assert (app / name).is_file(), name
        assert re.search(rf"^wrote +{re.escape(name)}$", result.stdout, re.MULTILINE), result.stdout
    assert "port 8080: the Dockerfile's EXPOSE" in result.stdout
    rendered = json.loads(
        dockerrun.render(
            (app / "Dockerrun.aws.json.template").read_text(),
            {"IMAGE": "registry.example/greeter:abc", "BUCKET": "bucket", "AUTH_KEY": "auth/config.json", "PORT": "80"},
        )
    )
    assert rendered["Ports"] == [{"ContainerPort": "8080"}]  # CONTAINER_PORT's default 80 does not win over EXPOSE
    declared = environments.load(app / "environments.toml")
    assert {name: (env.eb_environment, env.branch) for name, env in declared.items()} == {
        "stg": ("greeter-stg", "release/stg"),
        "prod": ("greeter-prod", "release/prod"),
    }
    config = yaml.safe_load((app / ".circleci/config.yml").read_text())
    assert config["workflows"]["pipeline"]["jobs"][0]["ci"]["filters"]["branches"]["only"] == ["release/stg", "release/prod"]
    assert ".venv/bin/pip install -r requirements.txt" in (app / ".circleci/config.yml").read_text()
    assert (app / ".circleci/aws-credentials.sh").stat().st_mode & 0o111
    assert (app / "requirements.txt").read_text() == f"{init.REQUIREMENT}\n"
    assert {".env", ".local/", ".venv/"} <= set((app / ".gitignore").read_text().split())
    assert "from ebship.init import installed_collection" in (app / "tasks.py").read_text()
    assert not (app / "tasks").exists()  # the task modules stay in the installed package: one copy


def test_existing_files_are_skipped_and_named_and_force_replaces_them(tmp_path):
    app = copy_app(tmp_path / "greeter")
    (app / "environments.toml").write_text("# ours\n")
    (app / ".gitignore").write_text("build/\n.env")  # no newline at the end
    (app / "requirements.txt").write_text("eb-ship[local]==0.0.9\n")
    result = run_init(app, "init")
    assert result.returncode == 0, result.stderr
    assert "skipped       environments.toml: it exists (--force replaces it)" in result.stdout
    assert (app / "environments.toml").read_text() == "# ours\n"
    assert (app / ".gitignore").read_text() == "build/\n.env\n.local/\n.venv/\n"
    assert "unchanged     requirements.txt" in result.stdout  # an eb-ship pin of the app's own is left as it is
    assert (app / "requirements.txt").read_text() == "eb-ship[local]==0.0.9\n"

    forced = run_init(app, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "replaced      environments.toml" in forced.stdout
    assert "unchanged     tasks.py" in forced.stdout
    assert 'eb_environment = "greeter-stg"' in (app / "environments.toml").read_text()


@pytest.mark.parametrize(
    ("ours", "added"),
    [
        (".git\n__pycache__\n", [".env", ".env.*"]),  # it never named .env: .env was sent to the engine
        (".git\n.env\n", [".env.*"]),
        ("*\n!greeter/\n", []),  # a whitelist keeps them out already
        ("**/.env\n**/.env.*\n", []),
    ],
)
def test_an_existing_dockerignore_is_kept_but_never_without_the_local_settings(tmp_path, ours, added):
    """init kept an app's .dockerignore that lacked .env without a word: the next docker.build baked .env into the image."""
    from ebship import images

    app = copy_app(tmp_path / "greeter")
    (app / ".dockerignore").write_text(ours)
    (app / ".env").write_text("SECRET_KEY=marker\n")
    result = run_init(app, "init")
    assert result.returncode == 0, result.stderr
    assert "skipped       .dockerignore: it exists (--force replaces it)" in result.stdout
    assert (app / ".dockerignore").read_text() == ours + "".join(f"{line}\n" for line in added)
    if added:
        assert f"added to      .dockerignore: {', '.join(added)} (local settings hold secrets" in result.stdout
    assert images.secrets_in_context(app) == []


def test_dry_run_says_what_it_would_write_and_writes_nothing(tmp_path):
    app = copy_app(tmp_path / "greeter")
    (app / "environments.toml").write_text("# ours\n")
    before = snapshot(app)
    result = run_init(app, "init", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert snapshot(app) == before
    assert "would write   tasks.py" in result.stdout
    assert "would skip    environments.toml" in result.stdout
    assert "would add to  requirements.txt: eb-ship[local]==" in result.stdout
    forced = run_init(app, "init", "--dry-run", "--force")
    assert "would replace environments.toml" in forced.stdout and snapshot(app) == before


@pytest.mark.parametrize(
    ("prepare", "args", "expected"),
    [
        (lambda app: (app / "Dockerfile").unlink(), ("init",), "No Dockerfile in "),
        (lambda app: None, ("init", "--overwrite"), "unrecognized arguments: --overwrite"),
        (lambda app: None, ("setup",), "invalid choice: 'setup'"),
        (lambda app: (app / "tasks").mkdir() or (app / "tasks" / "__init__.py").write_text(""), ("init",), "is a Python package"),
        (lambda app: (app / ".circleci" / "config.yml").mkdir(parents=True), ("init",), "exists and is not a file"),
        (lambda app: (app / "Dockerfile").write_bytes(b"FROM scratch\n# caf\xe9\n"), ("init",), "is not UTF-8 text"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, prepare, args, expected):
    app = copy_app(tmp_path / "greeter")
    prepare(app)
    before = snapshot(app)
    result = run_init(app, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == "" and snapshot(app) == before


@pytest.mark.parametrize(
    ("dockerfile", "port"),
    [
        ("FROM a AS build\nEXPOSE 9000\nFROM a\nEXPOSE 8080\n", "8080"),  # the final stage's, not the build stage's
        ("FROM a\nEXPOSE 53/udp \\\n    5000/tcp 6000\n", "5000"),  # continuation; UDP is no web port
        ("FROM a\n# EXPOSE 1234\nexpose 8000\n", "8000"),  # comments skipped, keywords in any case
        ("FROM a\nEXPOSE ${PORT}\n", ""),  # a variable: the template keeps {{PORT}}
        ("FROM a AS build\nEXPOSE 9000\nFROM a\n", ""),
    ],
)
def test_exposed_port(dockerfile, port):
    assert init.exposed_port(dockerfile)[0] == port


def test_without_expose_the_template_keeps_the_port_placeholder(tmp_path):
    app = copy_app(tmp_path / "greeter")
    (app / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["python3", "-m", "http.server"]\n')
    result = run_init(app, "init")
    assert result.returncode == 0, result.stderr
    assert "EXPOSEs no port" in result.stdout
    assert '"ContainerPort": "{{PORT}}"' in (app / "Dockerrun.aws.json.template").read_text()


def test_an_image_that_installs_requirements_txt_gets_the_pin_in_a_file_of_its_own(tmp_path):
    app = copy_app(tmp_path / "greeter")
    (app / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY requirements.txt .\nEXPOSE 5000\n")
    (app / "requirements.txt").write_text("flask==3.1.3\n")
    assert run_init(app, "init").returncode == 0
    assert (app / "requirements.txt").read_text() == "flask==3.1.3\n"
    assert (app / "requirements-deploy.txt").read_text() == f"{init.REQUIREMENT}\n"
    assert "pip install -r requirements-deploy.txt" in (app / ".circleci/config.yml").read_text()


def test_the_package_pins_what_requirements_pin_and_ships_this_repositorys_credentials_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(project["dependencies"]) == sorted(pinned)
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert all(requirement in dev for requirement in project["optional-dependencies"]["local"])
    assert (ROOT / "ebship/templates/aws-credentials.sh").read_bytes() == (ROOT / ".circleci/aws-credentials.sh").read_bytes()


# --- the proof: a second app adopts eb-ship from the package and rehearses a deploy -----------------------------------


def build_wheel(destination: Path) -> Path:
    """This repository's wheel, built from the files the package is made of (never in the shared work tree)."""
    source = destination / "src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py", "tasks.py"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("ebship", "localeb", "tasks"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = destination / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return wheels


def fresh_venv(path: Path) -> Path:
    """A new venv that sees this venv's installed distributions (the pinned dependencies) through a .pth file, so that
    pip resolves eb-ship's requirements without the network; eb-ship itself goes into the new venv from its wheel."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "this-repositorys-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def pip_install(python: Path, wheels: Path, *requirements: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--find-links", str(wheels)]
        + list(requirements),
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_second_app_adopts_eb_ship_and_its_rehearsal_ends_healthy_on_its_own_port(tmp_path, base_image):
    app = copy_app(tmp_path / "greeter")
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=app, check=True)
    subprocess.run([*git, "add", "-A"], cwd=app, check=True)
    subprocess.run([*git, "commit", "-qm", "greeter"], cwd=app, check=True)

    python = fresh_venv(tmp_path / "venv")
    wheels = build_wheel(tmp_path / "build")
    pip_install(python, wheels, init.REQUIREMENT, cwd=app)
    env = {**base_env(), "BASE_IMAGE": base_image}

    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), *args], cwd=app, env=env, capture_output=True, text=True, timeout=timeout)

    where = run("-c", "import ebship.init; print(ebship.init.__file__)")
    assert where.stdout.startswith(str(tmp_path / "venv")), where  # the installed package, not this repository
    adopted = run("-m", "ebship", "init")
    assert adopted.returncode == 0, adopted.stderr
    assert "port 8080" in adopted.stdout
    pip_install(python, wheels, "-r", "requirements.txt", cwd=app)  # what CI runs: the pin init wrote
    subprocess.run([*git, "add", "-A"], cwd=app, check=True)
    subprocess.run([*git, "commit", "-qm", "Adopt eb-ship"], cwd=app, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=app, check=True, capture_output=True, text=True).stdout.strip()

    try:
        listed = run("-m", "invoke", "--list", timeout=120)
        assert listed.returncode == 0 and "eb.deploy" in listed.stdout, listed.stdout + listed.stderr
        result = run("-m", "invoke", "ci")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "no AWS target configured: rehearsing on the local stand-in" in output
        summary = result.stdout.split("=== summary ===")[1]
        assert "docker.test   ok" in summary and "result        OK" in summary, summary
        assert f"version       {sha}" in summary, summary  # the adoption is committed: a clean tree, the commit's label
        url = re.search(r"^  url +(\S+)$", summary, re.MULTILINE)
        assert url, summary
        with urllib.request.urlopen(url[1] + "/", timeout=10) as response:
            assert response.status == 200
            assert response.read().decode() == f"greeter {sha} on port 8080\n"
    finally:
        down = run("-m", "invoke", "local.down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
