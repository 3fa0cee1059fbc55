"""ebship.ecr and the Dockerrun without Authentication: host recognition, tokens, doctor's questions, ECR's errors."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ebship import dockerrun, ecr, images
from ebship.errors import PipelineError, UsageError
from ebship.images import Credentials
from ebship.output import Console

REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/web"
TEMPLATE = (Path(__file__).resolve().parent.parent / "Dockerrun.aws.json.template").read_text()
MARKER = "ecr-secret-marker-7f3a"


@pytest.mark.parametrize(
    ("repository", "region"),
    [
        (REPOSITORY, "eu-west-1"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web", "us-east-1"),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web", "cn-north-1"),  # China partition
        ("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/web", "us-gov-west-1"),  # GovCloud
        ("123456789012.dkr.ecr-fips.us-east-2.amazonaws.com/web", "us-east-2"),
        ("123456789012.dkr-ecr.us-east-2.on.aws/web", "us-east-2"),  # dual-stack
        ("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov/web", "us-iso-east-1"),
    ],
)
def test_ecr_hosts_of_every_partition_are_recognised_with_their_region(repository, region):
    assert ecr.is_ecr(repository)
    assert ecr.region_of(repository) == region


@pytest.mark.parametrize(
    "repository",
    [
        "quay.io/acme/web",
        "127.0.0.1:5000/acme/web",
        "acme/web",
        "12345678901.dkr.ecr.us-east-1.amazonaws.com/web",  # 11 digits
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",  # no repository name
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com/web",  # a China region under the global suffix
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn/web",  # a global region under the China suffix
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/web",
        "123456789012.dkr-ecr.nowhere.on.aws/web",  # dual-stack, but no partition's region
        "public.ecr.aws/acme/web",  # ECR Public: anonymous pulls, no GetAuthorizationToken of ecr
    ],
)
def test_other_registries_are_not_ecr(repository):
    assert not ecr.is_ecr(repository)
    with pytest.raises(UsageError, match="not an ECR repository"):
        ecr.region_of(repository)


def _client():
    return boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")


def _token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_come_from_the_token_and_are_masked():
    client, out = _client(), io.StringIO()
    console = Console(out=out, err=out)
    with Stubber(client) as stub:
        stub.add_response(
            "get_authorization_token",
            {
                "authorizationData": [
                    {
                        "authorizationToken": _token("AWS", MARKER),
                        "expiresAt": datetime.now(UTC),
                        "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                    }
                ]
            },
            {"registryIds": ["123456789012"]},
        )
        login = ecr.credentials(client, REPOSITORY, console)
    assert (login.registry, login.username, login.password) == ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", MARKER)
    assert MARKER not in repr(login)
    assert login.origin == ecr.TOKEN_ORIGIN
    console.print(f"{MARKER} {_token('AWS', MARKER)} {login.password!r}")
    assert MARKER not in out.getvalue() and _token("AWS", MARKER) not in out.getvalue()
    assert ecr.push_repository(REPOSITORY, login) == REPOSITORY


def test_the_push_goes_to_the_registry_the_token_names():
    login = Credentials("127.0.0.1:5123", "AWS", MARKER)  # the local stand-in's proxyEndpoint
    assert ecr.push_repository(REPOSITORY, login) == "127.0.0.1:5123/acme/web"


def test_a_refused_ecr_login_points_at_the_aws_credentials_not_the_registry_settings():
    refusal = "login attempt to https://x/v2/ failed with status: 401 Unauthorized"
    token_login = Credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "AWS", MARKER, origin=ecr.TOKEN_ORIGIN)
    said = images.login_failure(token_login, refusal, 500)
    assert "GetAuthorizationToken" in said and "REGISTRY_USERNAME" not in said
    robot = Credentials("quay.io", "robot", MARKER)
    assert images.login_failure(robot, refusal, 500).endswith("Check REGISTRY_USERNAME and REGISTRY_PASSWORD.")


@pytest.mark.parametrize(
    ("code", "message", "kind", "words"),
    [
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken",
            PipelineError,
            "ECR denied ecr:GetAuthorizationToken",
        ),
        ("ServerException", "Internal error", PipelineError, "ServerException: Internal error"),
    ],
)
def test_a_refused_token_is_one_line_naming_the_action(code, message, kind, words):
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_authorization_token", code, message)
        with pytest.raises(kind) as raised:
            ecr.credentials(client, REPOSITORY, Console(out=io.StringIO()))
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_a_token_that_is_not_user_password_fails_clearly():
    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "get_authorization_token",
            {
                "authorizationData": [
                    {"authorizationToken": base64.b64encode(b"no-separator").decode(), "proxyEndpoint": "https://x"}
                ]
            },
        )
        with pytest.raises(PipelineError, match="not base64 of user:password"):
            ecr.credentials(client, REPOSITORY, Console(out=io.StringIO()))


def test_repository_exists_and_its_absence():
    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_repositories",
            {"repositories": [{"repositoryName": "acme/web"}]},
            {"registryId": "123456789012", "repositoryNames": ["acme/web"]},
        )
        stub.add_client_error(
            "describe_repositories",
            "RepositoryNotFoundException",
            "The repository with name 'acme/web' does not exist in the registry with id '123456789012'",
        )
        assert ecr.repository_exists(client, REPOSITORY)
        assert not ecr.repository_exists(client, REPOSITORY)


def test_image_tag_exists_answers_from_describe_images():
    client = _client()
    params = {"registryId": "123456789012", "repositoryName": "acme/web", "imageIds": [{"imageTag": "abc123"}]}
    with Stubber(client) as stub:
        stub.add_response("describe_images", {"imageDetails": [{"imageTags": ["abc123", "latest"]}]}, params)
        stub.add_client_error(
            "describe_images",
            "ImageNotFoundException",
            "The image with imageId {imageDigest:'null', "
            "imageTag:'abc123'} does not exist within the repository with name 'acme/web'",
        )
        stub.add_client_error(
            "describe_images",
            "RepositoryNotFoundException",
            "The repository with name 'acme/web' does not exist in the registry with id '123456789012'",
        )
        assert ecr.image_tag_exists(client, REPOSITORY, "abc123")
        assert not ecr.image_tag_exists(client, REPOSITORY, "abc123")
        with pytest.raises(UsageError) as raised:
            ecr.image_tag_exists(client, REPOSITORY, "abc123")
    assert str(raised.value) == (
        "The ECR repository acme/web in registry 123456789012 (eu-west-1) does not exist: create it (aws ecr "
        "create-repository --repository-name acme/web --region eu-west-1) or correct IMAGE_REPOSITORY."
    )


def test_client_for_uses_the_repository_region():
    client = ecr.client_for(
        boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1"), REPOSITORY
    )
    assert client.meta.region_name == "eu-west-1"


VALUES = {"BUCKET": "deploy-bucket", "AUTH_KEY": "registry-auth/config.json", "IMAGE": f"{REPOSITORY}:abc123", "PORT": "80"}


def test_an_ecr_dockerrun_has_no_authentication_and_needs_no_auth_values():
    document = json.loads(dockerrun.render(TEMPLATE, {"IMAGE": f"{REPOSITORY}:abc123", "PORT": "80"}, authentication=False))
    assert "Authentication" not in document
    assert document["Image"]["Name"] == f"{REPOSITORY}:abc123"
    assert dockerrun.validate(document) == []
    # Given anyway, the auth values change nothing.
    assert dockerrun.render(TEMPLATE, VALUES, authentication=False) == dockerrun.render(
        TEMPLATE, {"IMAGE": f"{REPOSITORY}:abc123", "PORT": "80"}, authentication=False
    )


def test_the_same_template_still_renders_authentication_for_other_registries():
    document = json.loads(dockerrun.render(TEMPLATE, VALUES))
    assert document["Authentication"] == {"Bucket": "deploy-bucket", "Key": "registry-auth/config.json"}
    with pytest.raises(UsageError, match="AUTH_KEY"):
        dockerrun.render(TEMPLATE, {"IMAGE": "quay.io/acme/web:abc123", "PORT": "80"})


def test_without_authentication_still_requires_the_other_placeholders():
    with pytest.raises(UsageError, match=r"\{\{PORT\}\}"):
        dockerrun.render(TEMPLATE, {"IMAGE": f"{REPOSITORY}:abc123"}, authentication=False)


def test_a_template_that_is_not_json_before_filling_is_named():
    with pytest.raises(UsageError, match="not valid JSON"):
        dockerrun.render(
            '{"Image": {"Name": "{{IMAGE}}"}, "Ports": [{"ContainerPort": {{PORT}}}]}',
            {"IMAGE": "x", "PORT": "80"},
            authentication=False,
        )
