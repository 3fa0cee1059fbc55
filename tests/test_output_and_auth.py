import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ebship import images, registry_auth
from ebship.errors import PipelineError
from ebship.output import MASK, Console
from ebship.plan import DisplayExecutor, Executor, Plan, Secret, Step, print_plan

PASSWORD = 'p"a$s\\w€rd'


def console_with_secret() -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_credentials("robot", PASSWORD)
    return console, out, err


def test_console_masks_secret_and_its_encodings_everywhere():
    console, out, err = console_with_secret()
    token = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
    console.print(f"password {PASSWORD} token {token}")
    console.error(f"failed with {PASSWORD}")
    try:
        raise RuntimeError(f"boom {PASSWORD}")
    except RuntimeError as error:
        console.traceback(error)
    text = out.getvalue() + err.getvalue()
    assert PASSWORD not in text and token not in text
    assert text.count(MASK) == 4


def test_plan_prints_secrets_masked_and_executes_with_real_values():
    console, out, _ = console_with_secret()
    plan = Plan("demo", (Step("put", {"Body": b"abc", "Password": Secret("s3cr3t-value")}, "put something"),))
    print_plan(plan, console, dry_run=True)
    assert "s3cr3t-value" not in out.getvalue() and "<3 bytes>" in out.getvalue()

    class Actions:
        def put(self, Body, Password):  # noqa: N803
            return Body, Password

    assert Executor(Actions(), console).run(plan) == [(b"abc", "s3cr3t-value")]
    assert "s3cr3t-value" not in out.getvalue()


def test_the_display_executor_prints_the_plan_and_runs_nothing():
    console, out, _ = console_with_secret()
    plan = Plan("demo", (Step("s3.put_object", {"Key": "k", "Password": Secret("s3cr3t-value")}, "put something"),))
    assert DisplayExecutor(console).run(plan) == []
    assert "Dry run, nothing will change. demo:" in out.getvalue() and "Password: ****" in out.getvalue()


def test_an_executor_refuses_a_plan_it_has_no_method_for_before_running_any_step():
    console, _, _ = console_with_secret()
    ran = []

    class Actions:
        def first(self):
            ran.append("first")

    plan = Plan("demo", (Step("first", {}, "one"), Step("s3.missing", {}, "two")))
    with pytest.raises(KeyError, match="s3.missing"):
        Executor(Actions(), console).run(plan)
    assert ran == []


@pytest.mark.parametrize(
    ("registry", "key"),
    [("quay.io", "quay.io"), ("docker.io", "https://index.docker.io/v1/"), ("127.0.0.1:5000", "127.0.0.1:5000")],
)
def test_auth_file_formats_round_trip(registry, key):
    credentials = images.Credentials(registry, "robot", PASSWORD)
    current = json.loads(registry_auth.auth_file(credentials, "config.json"))
    legacy = json.loads(registry_auth.auth_file(credentials, "dockercfg"))
    assert list(current["auths"]) == [key]
    assert list(legacy) == [key] and "email" in legacy[key]
    for fmt in ("config.json", "dockercfg"):
        content = registry_auth.auth_file(credentials, fmt)
        assert registry_auth.credentials_from_file(content, registry) == ("robot", PASSWORD)
        assert content == registry_auth.auth_file(credentials, fmt), "deterministic, so unchanged files are not re-uploaded"


def test_build_stream_error_names_the_failing_step_and_its_output():
    console, out, _ = console_with_secret()
    events: list[dict[str, Any]] = [
        {"stream": "Step 1/3 : FROM base\n"},
        {"stream": " ---> abc\n"},
        {"stream": "Step 2/3 : RUN make\n"},
        {"stream": "compiling...\nerror: no rule\n"},
        {"errorDetail": {"code": 2, "message": "The command '/bin/sh -c make' returned a non-zero code: 2"}},
    ]
    with pytest.raises(images.DockerError) as raised:
        images.follow_build(events, images.StreamPrinter(console))
    message = str(raised.value)
    assert "step 2/3 (RUN make)" in message and "error: no rule" in message and "non-zero code: 2" in message
    assert "compiling..." in out.getvalue(), "output was streamed as it came"


def test_build_stream_without_an_image_id_is_a_failure():
    console, _, _ = console_with_secret()
    with pytest.raises(images.DockerError):
        images.follow_build([{"stream": "Step 1/1 : FROM base\n"}], images.StreamPrinter(console))


def test_build_stream_returns_the_image_id():
    console, _, _ = console_with_secret()
    result = images.follow_build(
        [{"stream": "Step 1/1 : FROM b\n"}, {"aux": {"ID": "sha256:feed"}}], images.StreamPrinter(console)
    )
    assert result.image_id == "sha256:feed"


def test_push_stream_error_names_the_registry():
    console, _, _ = console_with_secret()
    events: Iterator[dict[str, Any]] = iter(
        [{"status": "Preparing", "id": "l1"}, {"errorDetail": {"message": "denied: requested access to the resource is denied"}}]
    )
    with pytest.raises(PipelineError) as raised:
        images.follow_push(events, "quay.io", images.StreamPrinter(console))
    assert "quay.io" in str(raised.value) and "denied" in str(raised.value)


def test_push_stream_returns_the_digest_and_requires_one():
    console, _, _ = console_with_secret()
    events: list[dict[str, Any]] = [
        {"status": "Pushed", "id": "l1"},
        {"status": "t: digest: sha256:ab size: 1"},
        {"aux": {"Tag": "t", "Digest": "sha256:ab", "Size": 1}},
    ]
    assert images.follow_push(iter(events), "r", images.StreamPrinter(console)) == "sha256:ab"
    with pytest.raises(images.DockerError):
        images.follow_push(iter(events[:1]), "r", images.StreamPrinter(console))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_build_output_is_a_compact_display_on_a_terminal_and_plain_lines_elsewhere():
    events: list[dict[str, Any]] = [
        {"stream": "Step 1/2 : FROM base\n"},
        {"stream": "Collecting django\nInstalling collected packages\n"},
        {"stream": "Step 2/2 : CMD run\n"},
        {"aux": {"ID": "sha256:feed"}},
    ]
    terminal = Terminal()
    images.follow_build(events, images.StreamPrinter(Console(terminal, io.StringIO())))
    assert "\r\x1b[2K" in terminal.getvalue(), "step output is redrawn in place"
    plain = io.StringIO()
    images.follow_build(events, images.StreamPrinter(Console(plain, io.StringIO())))
    assert "\r" not in plain.getvalue() and "\x1b" not in plain.getvalue()
    assert "Collecting django\nInstalling collected packages\n" in plain.getvalue()


def test_sweeping_test_containers_survives_a_concurrent_run_removing_them():
    """Two `inv ci` at once on one engine: the other run may remove a container between our listing and our inspect
    or remove of it (seen as a traceback in the concurrency suite)."""
    from docker.errors import NotFound

    class Gone:
        labels = {images.OWNER_LABEL: "elsewhere-host/1/1"}

        def remove(self, force: bool) -> None:
            raise NotFound("removed by the other run")

    class Containers:
        def list(self, all: bool, filters: dict, ignore_removed: bool = False) -> list:
            if not ignore_removed:
                raise NotFound("inspect of a container removed meanwhile")
            dead_owner = Gone()
            dead_owner.labels = {images.OWNER_LABEL: f"{__import__('socket').gethostname()}/999999999/1"}
            return [dead_owner]

    class Client:
        containers = Containers()

    assert images.remove_orphaned_test_containers(Client()) == 0
    images.remove_quietly(Gone())
