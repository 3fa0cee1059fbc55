"""docker.build builds nothing when the engine holds the release image built from the same inputs (the commit or work
tree its tag names, the same base image by name and id), and builds when any of them changed."""

from __future__ import annotations

import io

import pytest
from tests_support import Project, copy_project

pytestmark = pytest.mark.slow


def test_an_image_of_the_same_inputs_is_not_built_again_and_a_new_base_is(project, engine, tmp_path):
    copy = Project(
        copy_project(tmp_path / "reuse"), {**project.env, "IMAGE_REPOSITORY": f"{project.env['IMAGE_REPOSITORY']}-reuse"}
    )
    first = copy.inv("docker.build", check=True)
    assert "Step 1/" in first.stdout and "Built " in first.stdout
    again = copy.inv("docker.build", check=True)
    assert "nothing to build" in again.stdout and "Step 1/" not in again.stdout, again.stdout
    release = f"{copy.env['IMAGE_REPOSITORY']}:{copy.git('rev-parse', 'HEAD')}"
    built_id = engine.images.get(release).id
    assert built_id[:19] in again.stdout

    # Another base image (same name of a tag, another id) makes a new build.
    base, _ = engine.images.build(fileobj=io.BytesIO(f"FROM {project.env['BASE_IMAGE']}\nLABEL reuse=test\n".encode()), rm=True)
    other = {"BASE_IMAGE": f"{copy.env['IMAGE_REPOSITORY']}-base:1"}
    base.tag(other["BASE_IMAGE"])
    try:
        rebuilt = copy.inv("docker.build", check=True, env=other)
        assert "nothing to build" not in rebuilt.stdout and "Step 1/" in rebuilt.stdout
        assert engine.images.get(release).id != built_id
        # The same base name, retagged to yet another id: built again too.
        newer, _ = engine.images.build(
            fileobj=io.BytesIO(f"FROM {project.env['BASE_IMAGE']}\nLABEL reuse=newer\n".encode()), rm=True
        )
        newer.tag(other["BASE_IMAGE"])
        assert "nothing to build" not in copy.inv("docker.build", check=True, env=other).stdout
        # A change to the work tree is a new tag: a build.
        (copy.root / "app" / "sampleapp" / "reuse.txt").write_text("changed\n")
        assert "nothing to build" not in copy.inv("docker.build", check=True, env=other).stdout
    finally:
        engine.images.remove(other["BASE_IMAGE"], force=True)
