"""The Docker half end to end, on the real engine, registry and S3: docker.build → docker.test → docker.push → s3.auth."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest
from tests_support import MARKER_PASSWORD, Project, copy_project, s3_client

pytestmark = pytest.mark.slow


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        assert MARKER_PASSWORD not in output
        assert "M4rk3r" not in output


@pytest.fixture(scope="module")
def shipped(project: Project, engine):
    """Runs the four steps once, in order, on a clean commit; the tests below inspect what they left."""
    sha = project.git("rev-parse", "HEAD")
    # Built from scratch here, whatever another module of the session built: docker.build reuses an image of the same
    # inputs (tests/test_build_reuse.py), and this module checks what a real build streams and leaves.
    for tag in (sha, f"{sha}-test"):
        if engine.images.list(name=f"{project.env['IMAGE_REPOSITORY']}:{tag}"):
            engine.images.remove(f"{project.env['IMAGE_REPOSITORY']}:{tag}", force=True)
    # Files that must never reach an image, planted in the work tree (git-ignored, so the commit stays clean).
    (project.root / ".env").write_text(f"IMAGE_REPOSITORY={project.env['IMAGE_REPOSITORY']}\nSECRET_KEY=env-file-marker-91c\n")
    (project.root / ".dockercfg").write_text('{"quay.io": {"auth": "ZG9ja2VyY2ZnLW1hcmtlcg=="}}')
    results = {
        name: project.inv(*args)
        for name, args in [
            ("build", ("docker.build",)),
            ("test", ("docker.test",)),
            ("push", ("docker.push",)),
            ("auth", ("s3.auth",)),
        ]
    }
    return sha, results


def test_each_step_succeeds_and_tags_the_commit(shipped, project):
    sha, results = shipped
    for name, result in results.items():
        assert result.returncode == 0, f"{name}:\n{result.stdout}\n{result.stderr}"
        assert_no_secret(result.stdout, result.stderr)
    assert f"acme/web:{sha}" in results["build"].stdout
    assert "Step 1/" in results["build"].stdout, "build output is streamed"
    assert "passed" in results["test"].stdout
    assert "digest " in results["push"].stdout


def test_pull_by_digest_with_a_docker_config_made_from_the_s3_object_alone(shipped, project, engine, tmp_path, registry):
    _, results = shipped
    digest = results["push"].stdout.split("@sha256:")[1].split()[0]
    reference = f"{project.env['IMAGE_REPOSITORY']}@sha256:{digest}"
    obj = s3_client(project.env).get_object(Bucket="deploy-bucket", Key="registry-auth/config.json")
    assert obj["ServerSideEncryption"] == "AES256"
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_bytes(obj["Body"].read())
    for image in engine.images.list(name=project.env["IMAGE_REPOSITORY"]):
        engine.images.remove(image.id, force=True)
    anonymous = tmp_path / "empty-config"
    anonymous.mkdir()
    (anonymous / "config.json").write_text("{}")
    refused = subprocess.run(["docker", "--config", str(anonymous), "pull", reference], capture_output=True, text=True)
    assert refused.returncode != 0, "the registry must refuse an anonymous pull, or this test proves nothing"
    pulled = subprocess.run(["docker", "--config", str(config), "pull", reference], capture_output=True, text=True, timeout=300)
    assert pulled.returncode == 0, pulled.stderr


def test_auth_upload_is_skipped_when_unchanged(shipped, project):
    again = project.inv("s3.auth")
    assert again.returncode == 0, again.stderr
    assert "already holds these credentials" in again.stdout


def test_image_holds_no_env_file_nor_credentials(shipped, project, engine):
    sha, _ = shipped
    reference = f"{project.env['IMAGE_REPOSITORY']}:{sha}"
    if not engine.images.list(name=reference):
        engine.images.pull(
            project.env["IMAGE_REPOSITORY"],
            tag=sha,
            auth_config={"username": project.env["REGISTRY_USERNAME"], "password": project.env["REGISTRY_PASSWORD"]},
        )
    saved = b"".join(engine.images.get(reference).save())
    names: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer.getmembers():
            data = b""
            if member.isfile():
                contents = outer.extractfile(member)
                assert contents is not None, member.name  # a regular file always has contents to read
                data = contents.read()
            for marker in (b"env-file-marker-91c", b"ZG9ja2VyY2ZnLW1hcmtlcg", MARKER_PASSWORD.encode()):
                assert marker not in data, f"{marker!r} found in {member.name}"
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    names += layer.getnames()
    assert names, "the image's layers were read"
    leaked = [name for name in names if name.rsplit("/", 1)[-1] in (".env", ".dockercfg", "htpasswd", ".git")]
    assert leaked == []


def test_fresh_runner_uses_the_last_pushed_image_as_cache(shipped, project, engine):
    for image in engine.images.list(name=project.env["IMAGE_REPOSITORY"]):
        engine.images.remove(image.id, force=True)
    result = project.inv("docker.build")
    assert result.returncode == 0, result.stderr
    assert f"Using {project.env['IMAGE_REPOSITORY']}:latest as a cache source." in result.stdout
    assert "Using cache" in result.stdout, "the dependency layers came from the pulled image"


def test_failing_app_test_fails_docker_test(project, tmp_path, engine):
    broken = Project(copy_project(tmp_path / "broken"), project.env)
    tests_dir = next(path for path in (broken.root / "app").rglob("test*.py"))
    (tests_dir.parent / "test_deliberately_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    broken.commit("A commit whose test fails")
    build = broken.inv("docker.build")
    assert build.returncode == 0, build.stderr
    result = broken.inv("docker.test")
    assert result.returncode != 0
    assert "test_broken" in result.stdout
    assert "tests failed" in result.stderr
    assert not [c for c in engine.containers.list(all=True) if c.image.tags and "-test" in c.image.tags[0]], (
        "test container removed"
    )


def test_wrong_registry_password_is_a_clear_error(shipped, project):
    result = project.inv("docker.push", env={"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong"})
    assert result.returncode == 1
    assert project.env["IMAGE_REPOSITORY"].split("/")[0] in result.stderr
    assert "refused the login" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_secret(result.stdout, result.stderr)


def test_dry_runs_change_nothing_and_mask_secrets(shipped, project):
    s3 = s3_client(project.env)
    s3.delete_object(Bucket="deploy-bucket", Key="registry-auth/config.json")

    def auth_objects() -> dict[str, str]:
        listed = s3.list_objects_v2(Bucket="deploy-bucket", Prefix="registry-auth/").get("Contents", [])
        return {item["Key"]: item["ETag"] for item in listed}

    before = auth_objects()  # other tests of the session may keep their own auth files in the shared bucket
    for args in (
        ("docker.build", "--dry-run"),
        ("docker.push", "--dry-run"),
        ("s3.auth", "--dry-run"),
        ("docker.test", "--dry-run"),
    ):
        result = project.inv(*args)
        assert result.returncode == 0, result.stderr
        assert "Dry run" in result.stdout
        assert_no_secret(result.stdout, result.stderr)
    assert auth_objects() == before, "a dry run wrote to the bucket"
    assert "registry-auth/config.json" not in before
    restored = project.inv("s3.auth")
    assert restored.returncode == 0


def test_missing_settings_are_listed_in_one_message(project):
    env = {key: value for key, value in project.env.items() if key not in ("REGISTRY_PASSWORD", "EB_BUCKET", "REGISTRY_USERNAME")}
    proc = Project(project.root, env).inv("s3.auth")
    assert proc.returncode == 2
    for name in ("REGISTRY_PASSWORD", "EB_BUCKET", "REGISTRY_USERNAME"):
        assert name in proc.stderr
    assert proc.stderr.count("Missing settings") == 1
    assert "Traceback" not in proc.stderr


def test_settings_in_env_file_do_not_override_the_environment(project):
    result = project.inv("docker.build", "--dry-run")
    assert project.env["IMAGE_REPOSITORY"] in result.stdout


def test_push_record_holds_the_digest(shipped, project):
    sha, results = shipped
    record = json.loads((project.root / ".local" / "pushed" / f"{sha}.json").read_text())
    assert record["digest"] in results["push"].stdout
