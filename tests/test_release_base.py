"""What a release image records as its base: the image its Dockerfile's final stage was built FROM, as the build resolves
it. An image built FROM local/python:3.11-bookworm was labelled org.opencontainers.image.base.name=python:3.12-slim."""

from __future__ import annotations

import pytest

from ebship.release import final_base

ARGS = {"BASE_IMAGE": "python:3.12-slim"}


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        ("ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n", "python:3.12-slim"),
        ("ARG BASE_IMAGE=debian\nFROM $BASE_IMAGE\n", "python:3.12-slim"),  # the build argument wins over the default
        ("FROM local/python:3.11-bookworm\nRUN true\n", "local/python:3.11-bookworm"),  # ignores BASE_IMAGE
        ("ARG OTHER=alpine:3.20\nFROM ${OTHER}\n", "alpine:3.20"),
        ("FROM --platform=linux/amd64 busybox:1.36 AS build\nFROM build\n", "busybox:1.36"),  # a stage stands for its base
        (
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS compile\nRUN x\nFROM gcr.io/distroless/python3\nCOPY --from=compile / /\n",
            "gcr.io/distroless/python3",
        ),
        ("FROM \\\n  python:3.11\n", "python:3.11"),  # a continuation line
        ("# no FROM at all\n", ""),
    ],
)
def test_the_final_stage_base_as_the_build_resolves_it(dockerfile: str, base: str) -> None:
    assert final_base(dockerfile, ARGS) == base


def test_the_build_step_labels_the_base_the_dockerfile_names_not_the_setting(tmp_path) -> None:
    import dataclasses
    import io

    from ebship.job import Job
    from ebship.output import Console
    from ebship.release import BASE_NAME_LABEL, plan_build
    from ebship.settings import load
    from ebship.source import Source

    (tmp_path / "Dockerfile").write_text('FROM local/python:3.11-bookworm\nCMD ["true"]\n')
    settings = dataclasses.replace(
        load({}, environ={}, dotenv_path=tmp_path / ".env"), image_repository="registry.example/acme/web"
    )
    job = Job(tmp_path, settings, Console(io.StringIO(), io.StringIO()), _source=Source("a" * 40, "subject", "main"))
    build = next(step for step in plan_build(job, None).steps if step.action == "docker.build")
    assert settings.base_image == "python:3.12-slim"
    assert build.params["labels"][BASE_NAME_LABEL] == "local/python:3.11-bookworm"
    assert "on local/python:3.11-bookworm" in build.summary
