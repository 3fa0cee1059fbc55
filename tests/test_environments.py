from pathlib import Path

import pytest

from ebship import environments, envvars
from ebship.environments import Environment
from ebship.errors import EXIT_USAGE, UsageError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
[stg]
eb_environment = "sampleapp-stg"
branch = "release/stg"
[stg.variables]
DJANGO_SETTINGS_MODULE = "sampleapp.settings"
SECRET_KEY = "${SECRET_KEY}"

[prod]
eb_environment = "sampleapp-prod"
branch = "release/prod"
health = ["Green", "Yellow"]
application = "SampleApp"
[prod.variables]
SECRET_KEY = "${PROD_SECRET_KEY}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(UsageError) as raised:
        environments.load(write(tmp_path, text))
    assert raised.value.exit_code == EXIT_USAGE
    return str(raised.value)


def test_load_reads_every_field_and_the_defaults(tmp_path):
    loaded = environments.load(write(tmp_path, GOOD))
    assert list(loaded) == ["stg", "prod"]
    assert loaded["stg"] == Environment(
        name="stg",
        eb_environment="sampleapp-stg",
        branch="release/stg",
        variables={"DJANGO_SETTINGS_MODULE": "sampleapp.settings", "SECRET_KEY": "${SECRET_KEY}"},
        health=(),  # not declared: ACCEPTED_HEALTH applies
        application="",
    )
    assert loaded["prod"].health == ("Green", "Yellow")
    assert loaded["prod"].application == "SampleApp"


def test_environment_is_frozen(tmp_path):
    loaded = environments.load(write(tmp_path, GOOD))
    with pytest.raises(AttributeError):
        loaded["stg"].branch = "main"  # type: ignore[misc]


def test_branch_variables_health_and_application_are_optional(tmp_path):
    loaded = environments.load(write(tmp_path, '[qa]\neb_environment = "sampleapp-qa"\n'))
    assert loaded["qa"] == Environment(name="qa", eb_environment="sampleapp-qa")
    assert loaded["qa"].variables == {} and loaded["qa"].branch == ""


def test_the_repository_file_loads_and_its_values_pass_the_strict_check():
    loaded = environments.load(ROOT / "environments.toml")
    assert {"stg", "prod"} <= loaded.keys()
    staging, production = environments.for_branch("release/stg", loaded), environments.for_branch("release/prod", loaded)
    assert staging is not None and staging.name == "stg"
    assert production is not None and production.name == "prod"
    for environment in loaded.values():
        references = {name for value in environment.variables.values() for name in _names(value)}
        resolved = envvars.resolve_references(environment.variables, {name: "token-value" for name in references})
        envvars.validate(resolved.values)  # e.g. no "*" or "," that EB documents as refused


def _names(value: str) -> list[str]:
    import re

    return re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)


def test_a_typo_in_a_key_is_refused_with_a_suggestion(tmp_path):
    message = problems_of(tmp_path, '[stg]\neb_environment = "sampleapp-stg"\nbrnach = "release/stg"\n')
    assert "[stg]: unknown key 'brnach' (did you mean 'branch'?)" in message
    assert str(tmp_path / "environments.toml") in message


def test_a_typo_in_the_variables_table_name_is_refused(tmp_path):
    message = problems_of(tmp_path, '[stg]\neb_environment = "sampleapp-stg"\n[stg.varaibles]\nA = "b"\n')
    assert "unknown key 'varaibles' (did you mean 'variables'?)" in message


@pytest.mark.parametrize(
    "name",
    ["abc", "a" * 41, "-sampleapp", "sampleapp-", "sample_app", "sample app", "sampleapp.stg", ""],
)
def test_bad_eb_environment_names_are_refused(tmp_path, name):
    message = problems_of(tmp_path, f'[stg]\neb_environment = "{name}"\n')
    assert f"[stg] eb_environment: '{name}' is not 4-40 letters, digits and hyphens" in message


@pytest.mark.parametrize("name", ["abcd", "a" * 40, "Sample-App-2", "a-b-c"])
def test_good_eb_environment_names_pass(tmp_path, name):
    assert environments.load(write(tmp_path, f'[stg]\neb_environment = "{name}"\n'))["stg"].eb_environment == name


def test_missing_eb_environment_is_refused(tmp_path):
    assert "[stg]: eb_environment is missing" in problems_of(tmp_path, '[stg]\nbranch = "release/stg"\n')


def test_a_branch_used_by_two_environments_is_refused(tmp_path):
    message = problems_of(
        tmp_path,
        '[a]\neb_environment = "env-a1"\nbranch = "release/x"\n[b]\neb_environment = "env-b1"\nbranch = "release/x"\n',
    )
    assert "branch 'release/x' is claimed by several environments: a, b" in message


def test_one_eb_environment_claimed_by_two_names_is_refused(tmp_path):
    message = problems_of(tmp_path, '[a]\neb_environment = "env-same"\n[b]\neb_environment = "env-same"\n')
    assert "Elastic Beanstalk environment 'env-same' is claimed by several environments: a, b" in message


def test_health_colours_outside_the_enum_are_refused(tmp_path):
    message = problems_of(tmp_path, '[stg]\neb_environment = "sampleapp-stg"\nhealth = ["green", "Blue", "Yellow"]\n')
    assert "'green' is not an Elastic Beanstalk health colour (did you mean 'Green'?)" in message
    assert "'Blue' is not an Elastic Beanstalk health colour" in message
    assert "'Yellow'" not in message


@pytest.mark.parametrize("health", ["[]", '"Green"', "[1]"])
def test_health_must_be_a_non_empty_list_of_strings(tmp_path, health):
    message = problems_of(tmp_path, f'[stg]\neb_environment = "sampleapp-stg"\nhealth = {health}\n')
    assert "[stg] health:" in message


def test_the_name_local_is_reserved(tmp_path):
    message = problems_of(tmp_path, '[local]\neb_environment = "sampleapp-local"\n')
    assert "the name 'local' is reserved for the local stand-in" in message


def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path):
    message = problems_of(tmp_path, '[stg]\neb_environment = "sampleapp-stg"\nbranch = release/stg\n')
    assert str(tmp_path / "environments.toml") in message
    assert "line 3" in message


def test_a_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        environments.load(tmp_path / "nope.toml")


def test_an_empty_file_is_refused(tmp_path):
    assert "no environments declared" in problems_of(tmp_path, "# nothing yet\n")


def test_non_string_variable_values_are_refused(tmp_path):
    message = problems_of(
        tmp_path,
        '[stg]\neb_environment = "sampleapp-stg"\n[stg.variables]\nDEBUG = false\nPORT = 8000\nA.B = "x"\n',
    )
    assert "[stg] variables.DEBUG: must be a string" in message
    assert "[stg] variables.PORT: must be a string" in message
    assert "[stg] variables.A: is a table" in message


def test_a_top_level_key_outside_any_table_is_refused(tmp_path):
    message = problems_of(tmp_path, 'eb_environment = "sampleapp-stg"\n[stg]\neb_environment = "sampleapp-stg"\n')
    assert "eb_environment: top-level key outside any environment table" in message


def test_every_problem_is_reported_at_once(tmp_path):
    message = problems_of(
        tmp_path,
        """
[local]
eb_environment = "x"
[stg]
eb_environment = "-bad-"
brnach = "release/stg"
health = ["Purple"]
branch = "release/x"
[prod]
eb_environment = "sampleapp-prod"
branch = "release/x"
""",
    )
    for expected in (
        "reserved for the local stand-in",
        "[local] eb_environment: 'x'",
        "[stg] eb_environment: '-bad-'",
        "unknown key 'brnach'",
        "'Purple' is not an Elastic Beanstalk health colour",
        "branch 'release/x' is claimed by several environments: stg, prod",
    ):
        assert expected in message
    assert message.startswith("Invalid environments file ")


def test_bad_branch_and_application_values_are_refused(tmp_path):
    message = problems_of(
        tmp_path, f'[stg]\neb_environment = "sampleapp-stg"\nbranch = "release stg"\napplication = "{"a" * 101}"\n'
    )
    assert "[stg] branch:" in message
    assert "[stg] application:" in message


def test_resolve_returns_the_named_environment(tmp_path):
    loaded = environments.load(write(tmp_path, GOOD))
    assert environments.named("prod", loaded) is loaded["prod"]


def test_resolve_names_the_unknown_environment_and_lists_the_known_ones(tmp_path):
    loaded = environments.load(write(tmp_path, GOOD))
    with pytest.raises(UsageError) as raised:
        environments.named("stgg", loaded)
    message = str(raised.value)
    assert "Unknown environment 'stgg'" in message
    assert "Known environments: prod, stg." in message
    assert "Did you mean 'stg'?" in message
    assert raised.value.exit_code == EXIT_USAGE


def test_resolve_with_nothing_declared():
    with pytest.raises(UsageError, match="no environments are declared"):
        environments.named("stg", {})


def test_for_branch(tmp_path):
    loaded = environments.load(write(tmp_path, GOOD))
    assert environments.for_branch("release/stg", loaded) is loaded["stg"]
    assert environments.for_branch("refs/heads/release/prod", loaded) is loaded["prod"]
    assert environments.for_branch("main", loaded) is None
    assert environments.for_branch("release/STG", loaded) is None
    assert environments.for_branch("", environments.parse({"qa": {"eb_environment": "sampleapp-qa"}})) is None


def test_an_environment_name_that_cannot_be_typed_as_a_flag_is_refused(tmp_path):
    message = problems_of(tmp_path, '["my env"]\neb_environment = "sampleapp-stg"\n')
    assert "[my env]: an environment name must be letters, digits" in message
