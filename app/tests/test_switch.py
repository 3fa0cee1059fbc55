"""A deliberate switch: the project's own tests set SAMPLE_APP_FAIL_TESTS=1 when running this image's
tests to prove that a failing app test fails the pipeline. Nothing else should ever set it."""

import os


def test_deliberate_failure_switch_is_off() -> None:
    assert os.environ.get("SAMPLE_APP_FAIL_TESTS") != "1", (
        "SAMPLE_APP_FAIL_TESTS=1 is set: failing on purpose (the pipeline must stop here)"
    )
