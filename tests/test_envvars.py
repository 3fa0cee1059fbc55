from collections import ChainMap
from urllib.parse import parse_qsl, urlencode

import pytest

from ebship import envvars
from ebship.envvars import EnvDiff
from ebship.errors import EXIT_USAGE, PipelineError, UsageError

# Elastic Beanstalk's namespace of environment properties (general options reference), stated, not imported.
NAMESPACE = "aws:elasticbeanstalk:application:environment"

# A secret that EB accepts (so it survives validation) and that is distinctive enough to find in any text.
MARKER = "M4rk3r-s3cr3t-9f1c"
# A secret EB's documented set refuses: $, ", \, ' and non-ASCII, as in conftest's marker password.
BAD_MARKER = 'pw-"M4rk3r"$HOME\\n\'€-7f3a'

# Every character class EB documents for values: quotes, backslashes, =, @, :, /, +, spaces, tabs, dots, hyphens.
AWKWARD = {
    "QUOTES": "it's \"quoted\" and 'single'",
    "BACKSLASHES": "C:\\path\\to\\file\\",
    "EQUALS": "a=b==c=",
    "URL": "postgres://user:p@ss+w/rd@db.example.com:5432/app",
    "SPACES": "  leading and trailing  ",
    "TAB": "a\tb",
    "JSON_LOOKING": '"a": "b" \\"c\\"',
    "EMPTY": "",
    "ALL": "_ . : / = + \\ - @ ' \"",
}


def unset_message(variables, lookup) -> str:
    with pytest.raises(UsageError) as raised:
        envvars.resolve_references(variables, lookup)
    assert raised.value.exit_code == EXIT_USAGE
    return str(raised.value)


def invalid_message(values, strict=True, kept=None) -> str:
    with pytest.raises(UsageError) as raised:
        envvars.validate(values, strict=strict, kept=kept)
    assert raised.value.exit_code == EXIT_USAGE
    return str(raised.value)


# -- resolve ----------------------------------------------------------------------------------------------------------


def test_a_reference_is_replaced_anywhere_and_several_times():
    resolved = envvars.resolve_references(
        {
            "WHOLE": "${SECRET_KEY}",
            "INSIDE": "postgres://app:${DB_PASSWORD}@${DB_HOST}:5432/app",
            "TWICE": "${DB_HOST}-${DB_HOST}",
            "PLAIN": "sampleapp.settings",
        },
        {"SECRET_KEY": MARKER, "DB_PASSWORD": "pw", "DB_HOST": "db.local"},
    )
    assert resolved.values == {
        "WHOLE": MARKER,
        "INSIDE": "postgres://app:pw@db.local:5432/app",
        "TWICE": "db.local-db.local",
        "PLAIN": "sampleapp.settings",
    }
    assert resolved.references == {"WHOLE": ("SECRET_KEY",), "INSIDE": ("DB_PASSWORD", "DB_HOST"), "TWICE": ("DB_HOST",)}
    assert resolved.secret_keys == {"WHOLE", "INSIDE", "TWICE"}


def test_secret_values_hold_the_referencing_values_and_the_looked_up_parts():
    resolved = envvars.resolve_references(
        {"URL": "postgres://app:${PW}@db/app", "KEY": "${SECRET_KEY}", "PLAIN": "not-secret", "E": "${EMPTY}"},
        {"PW": "hunter2", "SECRET_KEY": MARKER, "EMPTY": ""},
    )
    assert set(resolved.secret_values) == {"postgres://app:hunter2@db/app", "hunter2", MARKER}
    assert "not-secret" not in resolved.secret_values
    assert "" not in resolved.secret_values
    assert MARKER not in repr(resolved)


def test_an_empty_value_in_the_environment_counts_as_set():
    assert envvars.resolve_references({"A": "x${EMPTY}y"}, {"EMPTY": ""}).values == {"A": "xy"}


def test_the_process_environment_layered_over_dotenv():
    lookup = ChainMap({"A": "from-environment"}, {"A": "from-dotenv", "B": "only-in-dotenv"})
    assert envvars.resolve_references({"X": "${A}/${B}"}, lookup).values == {"X": "from-environment/only-in-dotenv"}


@pytest.mark.parametrize(
    ("written", "result"),
    [
        ("$${A}", "${A}"),
        ("x$${A}y", "x${A}y"),
        ("$$${A}", "$${A}"),
        ("$$$${A}", "$$${A}"),
        ("$${", "${"),
        ("$$A", "$$A"),
        ("$A $HOME", "$A $HOME"),
        ("$2b$12$Abc.def/ghi", "$2b$12$Abc.def/ghi"),
        ("price: 5$", "price: 5$"),
        ("{A}", "{A}"),
        ("$${A}${A}", "${A}value"),
    ],
)
def test_escapes_and_literal_dollar_signs(written, result):
    assert envvars.resolve_references({"K": written}, {"A": "value"}).values == {"K": result}


def test_an_escaped_reference_is_no_reference():
    resolved = envvars.resolve_references({"K": "$${SECRET}"}, {})
    assert resolved.values == {"K": "${SECRET}"}
    assert resolved.secret_keys == frozenset()


def test_substituted_text_is_never_scanned_again():
    resolved = envvars.resolve_references({"K": "${A}"}, {"A": "${B} and $${C}", "B": "no"})
    assert resolved.values == {"K": "${B} and $${C}"}


def test_every_unset_reference_is_listed_at_once():
    message = unset_message(
        {
            "SECRET_KEY": "${SECRET_KEY}",
            "DATABASE_URL": "postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/app",
            "OTHER": "${DB_PASSWORD}",
            "FINE": "${SET}",
        },
        {"DB_HOST": "db", "SET": MARKER},
    )
    assert "SECRET_KEY: ${SECRET_KEY} is not set" in message
    assert "DATABASE_URL: ${DB_USER} is not set" in message
    assert "DATABASE_URL: ${DB_PASSWORD} is not set" in message
    assert "OTHER: ${DB_PASSWORD} is not set" in message
    assert "unset: DB_PASSWORD, DB_USER, SECRET_KEY" in message
    assert "DB_HOST" not in message and "FINE" not in message
    assert MARKER not in message


def test_the_unset_error_holds_no_looked_up_value():
    message = unset_message({"K": "${SECRET}-${MISSING}"}, {"SECRET": MARKER})
    assert "K: ${MISSING} is not set" in message
    assert MARKER not in message


@pytest.mark.parametrize("written", ["${A", "${}", "${1A}", "${A:-default}", "${A-B}", "x ${ A}"])
def test_malformed_references_are_errors(written):
    message = unset_message({"K": written}, {"A": "value"})
    assert "Malformed references:" in message
    assert "K: '${' at position" in message
    assert "write $${ for a literal ${" in message


def test_malformed_and_unset_references_are_reported_together():
    message = unset_message({"A": "${MISSING}", "B": "${oops"}, {})
    assert "A: ${MISSING} is not set" in message
    assert "B: '${' at position 1" in message


# -- validate ---------------------------------------------------------------------------------------------------------


def test_every_documented_character_passes():
    envvars.validate(AWKWARD)
    envvars.validate({"a.b:c/d+e\\f-g@h_I9": "x"})


# What AWS documents, or shows in its own example (create_deploy_Java.managing.md), passes without a word.
DOCUMENTED_EXAMPLE = "jdbc:mysql://localhost:3306/mydatabase?user=me&password=mypassword"


def test_what_aws_documents_or_shows_passes_without_warning():
    assert envvars.validate({**AWKWARD, "JDBC_CONNECTION_STRING": DOCUMENTED_EXAMPLE, "Q": "https://x.example/?a=1&b=2"}) == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("$2b$12$abc", "'$' (dollar sign)"),
        ("postgres://app:p%40ss@db/app", "'%' (percent sign)"),
        ("*.example", "'*' (asterisk)"),
        ("a;b#c", "';' (semicolon), '#' (number sign)"),
        ("café", "'é' (latin small letter e with acute)"),
        ("line\nbreak", "U+000A (line feed)"),
        ("a\rb", "U+000D (carriage return)"),
        ("a\u00a0b", "U+00A0 (no-break space)"),
        ("a`b", "'`' (grave accent)"),
    ],
)
def test_undocumented_value_characters_are_sent_with_a_warning_naming_the_key(value, shown):
    warnings = envvars.validate({"PLAIN": value})
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: PLAIN: its value holds {shown} outside what Elastic Beanstalk documents")
    assert "position" not in warnings[0] and value not in warnings[0]


@pytest.mark.parametrize("key", ["MY KEY", "MY$KEY", "ÜBER"])
def test_undocumented_key_characters_are_sent_with_a_warning(key):
    (warning,) = envvars.validate({key: "x"})
    assert warning.startswith(f"warning: {key}: its key holds ")


@pytest.mark.parametrize("secret", [{"key": "SECRET_KEY", "keys": frozenset()}, {"key": "FROM_REF", "keys": {"FROM_REF"}}])
def test_a_secret_value_is_warned_about_by_its_key_only(secret):
    (warning,) = envvars.validate({secret["key"]: BAD_MARKER}, secret_keys=secret["keys"])
    assert warning.startswith(f"warning: {secret['key']}: its value holds characters outside")
    assert "'$'" not in warning and "€" not in warning and "position" not in warning
    assert BAD_MARKER not in warning and "M4rk3r" not in warning


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (
            {"HOSTS": "a.example,b.example"},
            "HOSTS: character ',' (comma) at position 10, which cannot be sent: Elastic Beanstalk "
            "passes all properties to CloudFormation as one comma-separated list",
        ),
        ({"NUL": "a\x00b"}, "NUL: character U+0000 (null) at position 2, which cannot be sent: a process environment"),
        ({"MY=KEY": "x"}, "MY=KEY (the key): character '=' (equals sign) at position 3, which cannot be sent"),
        ({"A,B": "x"}, "A,B (the key): character ',' (comma) at position 2, which cannot be sent"),
        ({"BYTES": "a\udcff"}, "BYTES: character U+DCFF (lone surrogate: a byte that is not UTF-8) at position 2, which"),
    ],
)
def test_what_cannot_be_sent_is_refused_with_its_reason(values, shown):
    assert shown in invalid_message(values)


def test_a_refused_secret_shows_neither_positions_nor_any_part_of_it():
    message = invalid_message({"SECRET_KEY": "abcdefghijk,2b," + MARKER})
    assert "SECRET_KEY: holds ',' (comma) 2 times, which cannot be sent" in message
    assert "position" not in message
    assert MARKER not in message and "abcdefghijk" not in message and "2b" not in message


def test_lengths_at_the_limit_pass_and_beyond_are_refused():
    envvars.validate({"K" * 128: "v" * 256})
    message = invalid_message({"K" * 129: "x", "LONG": "v" * 200 + MARKER * 4})
    assert f"{'K' * 40}...: key of 129 characters; Elastic Beanstalk accepts at most 128" in message
    assert "LONG: value of 272 characters; Elastic Beanstalk accepts at most 256" in message
    assert MARKER not in message


def test_an_empty_key_is_refused_and_an_empty_value_accepted():
    envvars.validate({"EMPTY": ""})
    assert "(empty key): a key needs at least one character" in invalid_message({"": "x"})


def test_the_total_of_all_key_value_strings_is_limited_to_4096_bytes():
    # 16 entries of "Kxx=" + 252 characters = 256 bytes each: 4,096 bytes exactly.
    at_limit = {f"K{n:02d}": "v" * 252 for n in range(16)}
    envvars.validate(at_limit)
    over = dict(at_limit, K00="v" * 253)
    message = invalid_message(over)
    assert "all key=value strings together: 4,097 bytes; Elastic Beanstalk accepts at most 4,096" in message
    assert "(largest: K00 257, K01 256, K02 256)" in message


def test_the_total_counts_utf8_bytes():
    values = {f"K{n:02d}": "é" * 126 for n in range(16)}  # 4 + 252 bytes each = 4,096 bytes
    envvars.validate(values, strict=False)
    values["K00"] += "é"
    assert "4,098 bytes" in invalid_message(values, strict=False)


def test_kept_properties_count_towards_the_total_but_are_not_character_checked():
    declared = {f"K{n:02d}": "v" * 252 for n in range(15)}
    envvars.validate(declared, kept={"OLD": "$" * 10})  # 15 * 256 + 14 = 3,854 bytes, the kept '$' not checked
    message = invalid_message(declared, kept={"OLD": "x" * 300})
    assert "all key=value strings together: 4,144 bytes" in message
    assert "OLD" in message and "OLD: value" not in message


def test_every_problem_is_listed_at_once():
    message = invalid_message({"A": "x,y", "B": "x" * 300, "C=D": "ok", "E": "\x00", "F": "$ fine"})
    for expected in ("A: character ','", "B: value of 300", "C=D (the key): character '='", "E: character U+0000"):
        assert expected in message
    assert "F:" not in message
    assert message.startswith("Environment properties that Elastic Beanstalk cannot take (nothing was sent):")


def test_the_relax_hint_names_the_callers_setting():
    (warning,) = envvars.validate({"A": "x*y"}, relax_hint="strict=False")
    assert "(strict=False silences this warning)" in warning


def test_relaxed_drops_the_warnings_but_keeps_the_refusals_the_lengths_and_the_total():
    assert envvars.validate({"KEY": "café $2b$12$ *;`!", "ÜBER.key": "ü", "K2": "a\nb"}, strict=False) == []
    message = invalid_message({"KEY": "x" * 257, "K=3": "x", "K5": "\x00", "K6": "a,b"}, strict=False)
    for expected in ("KEY: value of 257 characters", "K=3 (the key): character '='", "K5: character U+0000", "K6: character ','"):
        assert expected in message
    assert "bytes" in invalid_message({f"K{n:02d}": "$" * 253 for n in range(16)}, strict=False)


# -- current settings, diff, describe ---------------------------------------------------------------------------------


def configuration(options):
    return {
        "ConfigurationSettings": [
            {"ApplicationName": "app", "EnvironmentName": "env-1", "DeploymentStatus": "deployed", "OptionSettings": options}
        ]
    }


def test_current_from_configuration_reads_only_the_environment_namespace():
    response = configuration(
        [
            {"Namespace": NAMESPACE, "OptionName": "SECRET_KEY", "Value": MARKER},
            {"Namespace": NAMESPACE, "OptionName": "EMPTY", "Value": ""},
            {"Namespace": NAMESPACE, "OptionName": "NO_VALUE"},
            {"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType", "Value": "SingleInstance"},
            {"Namespace": "aws:autoscaling:asg", "OptionName": "MaxSize", "Value": "1", "ResourceName": "AWSEBAutoScalingGroup"},
        ]
    )
    assert envvars.current_from_configuration(response) == {"SECRET_KEY": MARKER, "EMPTY": "", "NO_VALUE": ""}


@pytest.mark.parametrize("configurations", [[], [{"OptionSettings": []}, {"OptionSettings": []}]])
def test_current_from_configuration_wants_exactly_one_configuration(configurations):
    with pytest.raises(PipelineError, match="expected exactly one"):
        envvars.current_from_configuration({"ConfigurationSettings": configurations})


def test_current_from_configuration_of_an_environment_without_properties():
    assert envvars.current_from_configuration(configuration([])) == {}


CURRENT = {"SAME": "1", "CHANGED": "old", "GONE": "x", "Case": "a"}
DESIRED = {"SAME": "1", "CHANGED": "new", "NEW": "n", "case": "a"}


def test_diff_without_prune_keeps_undeclared_keys():
    difference = envvars.diff(CURRENT, DESIRED, prune=False)
    assert difference.added == {"NEW": "n", "case": "a"}  # names are case-sensitive
    assert difference.changed == {"CHANGED": "new"}
    assert difference.removed == ()
    assert difference.undeclared == ("Case", "GONE")
    assert difference.unchanged == ("SAME",)
    assert difference.kept == {"Case": "a", "GONE": "x"}
    assert difference.options_to_remove() == []
    assert not difference.empty


def test_diff_with_prune_removes_undeclared_keys():
    difference = envvars.diff(CURRENT, DESIRED, prune=True)
    assert difference.removed == ("Case", "GONE")
    assert difference.undeclared == ()
    assert difference.kept == {}
    assert difference.options_to_remove() == [
        {"Namespace": NAMESPACE, "OptionName": "Case"},
        {"Namespace": NAMESPACE, "OptionName": "GONE"},
    ]


def test_option_settings_hold_only_added_and_changed():
    assert envvars.diff(CURRENT, DESIRED, prune=True).option_settings() == [
        {"Namespace": NAMESPACE, "OptionName": "CHANGED", "Value": "new"},
        {"Namespace": NAMESPACE, "OptionName": "NEW", "Value": "n"},
        {"Namespace": NAMESPACE, "OptionName": "case", "Value": "a"},
    ]


def test_empty_diff():
    assert envvars.diff({"A": "1"}, {"A": "1"}, prune=True).empty
    assert envvars.diff({"A": "1", "B": "2"}, {"A": "1"}, prune=False).empty  # an undeclared key alone changes nothing
    assert not envvars.diff({"A": "1", "B": "2"}, {"A": "1"}, prune=True).empty
    assert envvars.diff({}, {}, prune=True) == EnvDiff()
    assert envvars.diff({"A": "1"}, {"A": ""}, prune=False).changed == {"A": ""}  # set to empty is a change


def test_describe_masks_every_value():
    difference = envvars.diff(
        {"SECRET_KEY": "old-" + MARKER, "GONE": MARKER, "SAME": MARKER},
        {"SECRET_KEY": MARKER, "NEW": MARKER, "SAME": MARKER},
        prune=True,
    )
    lines = envvars.describe(difference)
    assert lines == ["+ NEW = ****", "~ SECRET_KEY = ****", "- GONE", "= 1 unchanged"]
    assert MARKER not in "\n".join(lines)
    assert MARKER not in repr(difference)


def test_describe_lists_undeclared_keys_and_says_when_nothing_changes():
    lines = envvars.describe(envvars.diff({"A": "1", "OLD": "x"}, {"A": "1"}, prune=False))
    assert lines == ["? OLD (present but not declared: kept; --prune removes it)", "= 1 unchanged", "no change"]


# -- round trip -------------------------------------------------------------------------------------------------------


def test_awkward_values_survive_resolve_validate_diff_and_the_api_call_unchanged():
    """From the file's text through resolve, validate and diff to the UpdateEnvironment request botocore builds."""
    import botocore.serialize
    import botocore.session
    from botocore.validate import validate_parameters

    written = {key: value for key, value in AWKWARD.items()}
    written["FROM_ENV"] = "${AWKWARD_SECRET}"
    written["MIXED"] = "user=${USER_NAME} pass='${PASSWORD}' \\${USER_NAME}"
    lookup = {"AWKWARD_SECRET": "\"q\" 'q' \\ = @ : / + - _ .  x", "USER_NAME": "a@b", "PASSWORD": 'p"w\\d='}
    resolved = envvars.resolve_references(written, lookup)
    expected = dict(AWKWARD, FROM_ENV=lookup["AWKWARD_SECRET"], MIXED="user=a@b pass='p\"w\\d=' \\a@b")
    assert resolved.values == expected
    envvars.validate(resolved.values)
    settings = envvars.diff({"EMPTY": "x"}, resolved.values, prune=False).option_settings()
    assert {item["OptionName"]: item["Value"] for item in settings} == expected

    model = botocore.session.get_session().get_service_model("elasticbeanstalk").operation_model("UpdateEnvironment")
    params = {"EnvironmentName": "sampleapp-stg", "OptionSettings": settings}
    validate_parameters(params, model.input_shape)
    body = botocore.serialize.create_serializer("query").serialize_to_request(params, model)["body"]
    decoded = dict(parse_qsl(urlencode(body), keep_blank_values=True))  # through the wire encoding and back
    sent = {
        decoded[f"OptionSettings.member.{n}.OptionName"]: decoded[f"OptionSettings.member.{n}.Value"]
        for n in range(1, len(settings) + 1)
    }
    assert sent == expected
    assert all(decoded[f"OptionSettings.member.{n}.Namespace"] == NAMESPACE for n in range(1, len(settings) + 1))


def test_a_refused_secret_from_the_environment_never_reaches_any_message():
    lookup = {"REGISTRY_PASSWORD": BAD_MARKER + ",x"}
    resolved = envvars.resolve_references({"REGISTRY_PASSWORD": "${REGISTRY_PASSWORD}"}, lookup)
    assert resolved.values["REGISTRY_PASSWORD"] == lookup["REGISTRY_PASSWORD"]
    with pytest.raises(UsageError) as raised:
        envvars.validate(resolved.values, secret_keys=resolved.secret_keys)
    assert BAD_MARKER not in str(raised.value) and "M4rk3r" not in str(raised.value)
    warned = envvars.validate({"REGISTRY_PASSWORD": BAD_MARKER}, secret_keys=resolved.secret_keys)
    assert BAD_MARKER not in "".join(warned) and "M4rk3r" not in "".join(warned)
    difference = envvars.diff({}, resolved.values, prune=False)
    assert BAD_MARKER not in "\n".join(envvars.describe(difference)) + repr(difference) + repr(resolved)
