import pytest
from django.test import Client, override_settings
from django.urls import reverse


@pytest.fixture
def client() -> Client:
    return Client()


def test_home_page_says_hello_and_shows_the_version(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_VERSION", "1.2.3-abc123")
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Hello" in body
    assert '<span id="app-version">1.2.3-abc123</span>' in body


def test_home_page_without_a_version(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_VERSION", raising=False)
    response = client.get("/")
    assert response.status_code == 200
    assert '<span id="app-version">unknown</span>' in response.content.decode()


def test_the_version_is_escaped(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_VERSION", "<script>x</script>")
    body = client.get("/").content.decode()
    assert "<script>" not in body
    assert "&lt;script&gt;" in body


def test_health(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_health_head_has_no_body(client: Client) -> None:
    response = client.head("/health")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(len(b'{"status": "ok"}'))


def test_health_is_routed_too() -> None:
    assert reverse("health") == "/health"


def test_requests_to_localhost_with_any_port_are_allowed(client: Client) -> None:
    for host in (
        "127.0.0.1:18080",
        "localhost:80",
        "myenv.eu-west-1.elasticbeanstalk.com",
    ):
        assert client.get("/", HTTP_HOST=host).status_code == 200, host


@override_settings(ALLOWED_HOSTS=["myenv.eu-west-1.elasticbeanstalk.com"])
def test_health_answers_whatever_the_host_header(client: Client) -> None:
    # EB's load balancer health checker sends the instance's IP as Host.
    assert client.get("/health", HTTP_HOST="10.0.3.17").status_code == 200
    assert client.get("/", HTTP_HOST="10.0.3.17").status_code == 400
    assert (
        client.get("/", HTTP_HOST="myenv.eu-west-1.elasticbeanstalk.com").status_code
        == 200
    )


def test_unsafe_methods_are_refused(client: Client) -> None:
    assert client.post("/").status_code == 405


def test_unknown_page_is_404(client: Client) -> None:
    assert client.get("/nope").status_code == 404
