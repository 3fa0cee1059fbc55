import json
from pathlib import Path

import pytest

from ebship import dockerrun
from ebship.errors import UsageError

TEMPLATE = (Path(__file__).resolve().parent.parent / "Dockerrun.aws.json.template").read_text()
VALUES = {"BUCKET": "deploy-bucket", "AUTH_KEY": "registry-auth/config.json", "IMAGE": "quay.io/acme/web:abc123", "PORT": "80"}


def test_the_project_template_renders_to_a_valid_v1_document():
    document = json.loads(dockerrun.render(TEMPLATE, VALUES))
    assert document["AWSEBDockerrunVersion"] == "1"
    assert document["Image"]["Name"] == "quay.io/acme/web:abc123"
    assert document["Authentication"] == {"Bucket": "deploy-bucket", "Key": "registry-auth/config.json"}
    assert document["Ports"][0]["ContainerPort"] == "80"


def test_every_placeholder_must_get_a_value_and_all_missing_are_named():
    with pytest.raises(UsageError) as raised:
        dockerrun.render(TEMPLATE, {**VALUES, "BUCKET": "", "AUTH_KEY": ""})
    assert "{{BUCKET}}" in str(raised.value) and "{{AUTH_KEY}}" in str(raised.value)


def test_values_are_json_escaped_not_spliced():
    awkward = {**VALUES, "AUTH_KEY": 'auth/"quoted"\\key'}
    document = json.loads(dockerrun.render(TEMPLATE, awkward))
    assert document["Authentication"]["Key"] == 'auth/"quoted"\\key'


def test_a_template_without_the_image_placeholder_is_refused():
    with pytest.raises(UsageError, match="IMAGE"):
        dockerrun.render(TEMPLATE.replace("{{IMAGE}}", "fixed/image:latest"), VALUES)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(AWSEBDockerrunVersion="2"), "AWSEBDockerrunVersion"),
        (lambda d: d.pop("Ports"), "Ports"),
        (lambda d: d["Ports"][0].update(ContainerPort="eighty"), "ContainerPort"),
        (lambda d: d["Authentication"].pop("Key"), "Authentication"),
        (lambda d: d.update(Authentication={"bucket": "b", "key": "k"}), "Authentication"),
        (lambda d: d["Image"].update(Name=""), "Image.Name"),
        (lambda d: d.update(Volumes=[{"HostDirectory": "/x"}]), "Volumes"),
    ],
)
def test_invalid_documents_are_refused(change, problem):
    document = json.loads(dockerrun.render(TEMPLATE, VALUES))
    change(document)
    assert any(problem in message for message in dockerrun.validate(document))


def test_malformed_template_json_is_refused_with_a_line():
    with pytest.raises(UsageError, match="not valid JSON"):
        dockerrun.render(TEMPLATE.replace('"Update"', "Update"), VALUES)
