"""envvars' rules on plain data, each value and message stated: references, which values are secret, what Elastic
Beanstalk cannot take (in either mode), and how characters are named."""

from __future__ import annotations

import pytest

from ebship import envvars
from ebship.errors import PipelineError, UsageError

NAMESPACE = "aws:elasticbeanstalk:application:environment"

MALFORMED = (
    "'${{' at position {} does not start a reference of the form ${{NAME}} (NAME: letters, digits and _, not starting "
    "with a digit); write $${{ for a literal ${{"
)


def resolve_error(variables: dict[str, str], lookup: dict[str, str]) -> str:
    with pytest.raises(UsageError) as raised:
        envvars.resolve_references(variables, lookup)
    return str(raised.value)


def refused(values: dict[str, str], strict: bool = True) -> str:
    with pytest.raises(UsageError) as raised:
        envvars.validate(values, strict)
    return str(raised.value)


def test_a_malformed_reference_hides_no_later_reference():
    assert resolve_error({"K": "${ x ${A} ${B"}, {}) == "\n".join(
        [
            "Environment properties refer to unset variables (set them in the environment or .env; an empty value "
            "counts as set):",
            "  K: ${A} is not set",
            "  unset: A",
            "Malformed references:",
            "  K: " + MALFORMED.format(1),
            "  K: " + MALFORMED.format(11),
        ]
    )


def test_after_a_malformed_reference_the_later_ones_are_still_replaced_when_only_reported():
    # With A set, only the malformed ones are reported; what follows them was still read as a reference.
    assert resolve_error({"K": "${-${A}"}, {"A": "v"}) == "Malformed references:\n  K: " + MALFORMED.format(1)


def test_unset_names_are_listed_once_each_in_order_of_name():
    message = resolve_error({"K": "${B}${A}", "L": "${B}"}, {})
    assert message.splitlines()[1:] == ["  K: ${B} is not set", "  K: ${A} is not set", "  L: ${B} is not set", "  unset: A, B"]


def test_resolved_values_references_and_substituted_values():
    resolved = envvars.resolve_references(
        {"URL": "pg://${U}:${P}@h/${U}", "APP": "app", "E": "$${X}"}, {"U": "user", "P": "pw-1"}
    )
    assert dict(resolved.values) == {"URL": "pg://user:pw-1@h/user", "APP": "app", "E": "${X}"}
    assert dict(resolved.references) == {"URL": ("U", "P")}
    assert resolved.substituted == ("pw-1", "user")
    assert resolved.secret_keys == frozenset({"URL"})
    assert resolved.secret_values == ("pg://user:pw-1@h/user", "pw-1", "user")


def test_a_none_in_the_lookup_is_unset_and_an_empty_string_is_set():
    assert envvars.resolve_references({"K": "a${E}b"}, {"E": ""}).values == {"K": "ab"}
    assert "  K: ${N} is not set" in resolve_error({"K": "${N}"}, {"N": None})  # type: ignore[dict-item]


def test_secret_values_are_longest_first_then_in_order_and_drop_switches():
    assert envvars._longest_first({"bb", "abc", "aa", "TRUE", "Off", "", "zzz"}) == ("abc", "zzz", "aa", "bb")


@pytest.mark.parametrize("switch", ["true", "false", "yes", "no", "on", "off", "none", "null", "NULL", "True"])
def test_switch_words_are_never_masked(switch):
    assert envvars._longest_first({switch, "kept"}) == ("kept",)


def test_secrets_known_leaves_out_a_value_with_an_unset_or_malformed_reference():
    found = envvars.secrets_known({"A_TOKEN": "x-${UNSET}", "B_TOKEN": "${1}", "C_TOKEN": "plain-c"}, {})
    assert found == ("plain-c",)


def test_secret_current_values_of_named_and_given_keys():
    current = {"API_KEY": "k-1", "HOST": "db.example", "URL": "pg://x"}
    assert envvars.secret_current_values(current, {"URL"}) == ("pg://x", "k-1")


@pytest.mark.parametrize("strict", [True, False])
def test_a_lone_surrogate_is_refused_in_either_mode(strict):
    assert refused({"K": "a\udcffb"}, strict) == (
        "Environment properties that Elastic Beanstalk cannot take (nothing was sent):\n"
        "  K: character U+DCFF (lone surrogate: a byte that is not UTF-8) at position 2, which cannot be sent: it cannot "
        "be encoded as UTF-8"
    )


@pytest.mark.parametrize("strict", [True, False])
def test_a_comma_and_a_null_are_refused_in_either_mode_and_an_equals_sign_in_a_key(strict):
    assert refused({"K=1": "a,b,c", "L": "x\x00"}, strict).splitlines()[1:] == [
        "  K=1 (the key): character '=' (equals sign) at position 2, which cannot be sent: a variable's name ends at its "
        "first '='",
        "  K=1: character ',' (comma) at position 2 (and 1 more time), which cannot be sent: Elastic Beanstalk passes all "
        "properties to CloudFormation as one comma-separated list, where a comma would split this one (remove it, or "
        "encode it: %2C in a URL)",
        "  L: character U+0000 (null) at position 2, which cannot be sent: a process environment cannot hold it",
    ]


def test_a_refused_secret_says_how_many_times_but_not_where():
    assert refused({"DB_PASSWORD": ",a,b,"}).splitlines()[1] == (
        "  DB_PASSWORD: holds ',' (comma) 3 times, which cannot be sent: Elastic Beanstalk passes all properties to "
        "CloudFormation as one comma-separated list, where a comma would split this one (remove it, or encode it: %2C in "
        "a URL)"
    )
    assert "holds ',' (comma) 1 time, " in refused({"DB_PASSWORD": "a,b"})
    assert "(and 2 more times)" in refused({"K": ",,,"})


@pytest.mark.parametrize(
    ("separator", "name"), [("\u2028", "U+2028 (line separator)"), ("\u2029", "U+2029 (paragraph separator)")]
)
def test_line_and_paragraph_separators_are_warned_about_strictly_and_accepted_relaxed(separator, name):
    assert envvars.validate({"K": f"a{separator}b"}) == [
        f"warning: K: its value holds {name} outside what Elastic Beanstalk documents; sent anyway, as no refusal of them "
        "is known. If the update fails on it, change it (eb.env --relaxed silences this warning)."
    ]
    assert envvars.validate({"K": f"a{separator}b"}, strict=False) == []


def test_a_warning_names_the_key_and_value_characters_and_hides_a_secrets_characters():
    assert envvars.validate({"K#%": "a$b%", "API_TOKEN": "t$"}, relax_hint="--x") == [
        "warning: K#%: its key holds '#' (number sign), '%' (percent sign) and its value holds '$' (dollar sign), "
        "'%' (percent sign) outside what Elastic Beanstalk documents; sent anyway, as no refusal of them is known. "
        "If the update fails on it, change it (--x silences this warning).",
        "warning: API_TOKEN: its value holds characters outside what Elastic Beanstalk documents; sent anyway, as no "
        "refusal of them is known. If the update fails on it, change it (--x silences this warning).",
    ]


def test_the_documented_characters_and_the_guides_example_characters_pass_without_warning():
    value = "AZaz09 \t_.:/=+\\-@'\"?&"
    assert envvars.validate({"Az09_.:/+\\-@": value}) == []
    assert envvars.validate({"K?": "v"}) != [], "'?' is accepted in values only"


@pytest.mark.parametrize(
    ("character", "name"),
    [
        ("$", "'$' (dollar sign)"),
        (" ", "' ' (space)"),
        ("\n", "U+000A (line feed)"),
        ("\t", "U+0009 (tab)"),
        ("\x1b", "U+001B (escape)"),
        ("\x7f", "U+007F (delete)"),
        ("\x0b", "U+000B (vertical tab)"),
        ("\x0c", "U+000C (form feed)"),
        ("\r", "U+000D (carriage return)"),
        ("\x00", "U+0000 (null)"),
        ("\x01", "U+0001 (control character)"),
        ("\u00a0", "U+00A0 (no-break space)"),
        ("é", "'é' (latin small letter e with acute)"),
        ("\ud800", "U+D800 (lone surrogate: a byte that is not UTF-8)"),
    ],
)
def test_character_names(character, name):
    assert envvars.character_name(character) == name


def test_a_long_or_empty_key_is_labelled_so():
    long_key = "K" * 129
    assert refused({long_key: "v"}).splitlines()[1] == (
        f"  {'K' * 40}...: key of 129 characters; Elastic Beanstalk accepts at most 128"
    )
    assert refused({"": "v"}).splitlines()[1] == "  (empty key): a key needs at least one character"
    assert envvars.validate({"K" * 128: "v" * 256}) == []
    assert refused({"K": "v" * 257}).splitlines()[1] == "  K: value of 257 characters; Elastic Beanstalk accepts at most 256"


def test_the_total_names_the_three_largest_entries_largest_first_then_by_name():
    values = {key: "v" * 250 for key in "ABCDEFGHIJKLMNOP"} | {"Z": "v" * 251, "Y": "v" * 240}  # 16 * 252 + 253 + 242
    assert refused(values).splitlines()[1] == (
        "  all key=value strings together: 4,527 bytes; Elastic Beanstalk accepts at most 4,096 (largest: Z 253, A 252, B 252)"
    )
    assert envvars.validate({key: "v" * 250 for key in "ABCDEFGHIJKLMNOP"} | {"Z": "v" * 62}) == []  # 4032 + 64 = 4096


def test_entry_bytes_counts_utf8_and_survives_a_surrogate():
    assert envvars.entry_bytes("K", "é") == 4
    assert envvars.entry_bytes("K", "\ud800") == 5


def test_occurrences_give_the_first_position_from_one_and_the_count():
    assert envvars.occurrences("a,b,,", lambda c: c == ",") == {",": [2, 3]}


def test_malformed_references_of_every_key_are_listed():
    assert resolve_error({"K": "${", "L": "a${"}, {}) == "\n".join(
        ["Malformed references:", "  K: " + MALFORMED.format(1), "  L: " + MALFORMED.format(2)]
    )


def test_a_key_of_exactly_128_characters_is_named_whole():
    key = "K" * 127 + "#"
    assert envvars.validate({key: "v"}, relax_hint="--x") == [
        f"warning: {key}: its key holds '#' (number sign) outside what Elastic Beanstalk documents; sent anyway, as no "
        "refusal of them is known. If the update fails on it, change it (--x silences this warning)."
    ]


def test_no_configuration_is_an_error_that_names_the_permission():
    with pytest.raises(PipelineError) as raised:
        envvars.current_from_configuration({"ConfigurationSettings": []})
    assert str(raised.value) == (
        "DescribeConfigurationSettings returned no configuration for the environment; expected exactly one deployed "
        "configuration. Elastic Beanstalk returns only what the caller may read: check that the credentials allow "
        "elasticbeanstalk:DescribeConfigurationSettings on the application and the environment."
    )


def test_other_than_one_deployed_configuration_is_an_error_listing_the_statuses():
    with pytest.raises(PipelineError) as raised:
        envvars.current_from_configuration({"ConfigurationSettings": [{"DeploymentStatus": "pending"}, {}]})
    assert str(raised.value) == (
        "DescribeConfigurationSettings returned 2 configurations (pending, no DeploymentStatus); expected exactly one "
        "deployed configuration."
    )


def test_the_deployed_configuration_is_found_in_any_case_and_position():
    response = {
        "ConfigurationSettings": [
            {"DeploymentStatus": "failed", "OptionSettings": [{"Namespace": NAMESPACE, "OptionName": "A", "Value": "f"}]},
            {"DeploymentStatus": "Deployed", "OptionSettings": [{"Namespace": NAMESPACE, "OptionName": "A", "Value": "d"}]},
        ]
    }
    assert envvars.current_from_configuration(response) == {"A": "d"}


@pytest.mark.parametrize(
    ("statuses", "pending"),
    [
        (["deployed"], False),
        (["deployed", "failed"], False),
        (["deployed", "pending"], True),
        (["Pending"], True),
        ([None], False),
    ],
)
def test_a_draft_is_pending_only_when_its_status_says_pending(statuses, pending):
    response = {"ConfigurationSettings": [{"DeploymentStatus": status} for status in statuses]}
    assert envvars.draft_pending(response) is pending


def test_no_configurations_means_no_pending_draft():
    assert envvars.draft_pending({}) is False


@pytest.mark.parametrize("key", ["SSH_PRIVATEKEY_FILE", "GOOGLE_APIKEY", "GITHUB_TOKENS", "DB_PWD", "HASH_SALT"])
def test_more_keys_that_name_a_secret(key):
    assert envvars.names_a_secret(key)
