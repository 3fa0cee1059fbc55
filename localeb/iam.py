"""IAM for the stand-in: one identity policy, evaluated on each call of the caller it is attached to.

Evaluation follows the IAM User Guide ("Policy evaluation logic"): an explicit Deny wins, then any Allow, else the call
is denied. Matching ("IAM JSON policy elements"): Action and NotAction compare `service:Action` case-insensitively with
the wildcards `*` and `?`; Resource and NotResource compare ARNs case-sensitively with the same wildcards; every
Condition operator and key must match (any of a key's values). A condition key the request does not carry does not
match, except under the negated operators (`StringNotEquals`, `StringNotLike`, `ArnNotEquals`, `ArnNotLike`) and the
`...IfExists` forms, where it does ("IAM JSON policy elements: Condition operators").
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Policy = dict[str, Any]


def _arn_like(value: str, pattern: str) -> bool:
    """ArnLike: each of the six colon-separated parts is matched on its own ("IAM JSON policy elements: Condition
    operators", ARN condition operators)."""
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(values) == len(patterns) == 6 and all(fnmatch.fnmatchcase(v, p) for v, p in zip(values, patterns, strict=True))


STRING_OPERATORS = {
    "StringEquals": (lambda value, pattern: value == pattern, False),
    "StringNotEquals": (lambda value, pattern: value == pattern, True),
    "StringEqualsIgnoreCase": (lambda value, pattern: value.lower() == pattern.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda value, pattern: value.lower() == pattern.lower(), True),
    "StringLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), False),
    "StringNotLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}


@dataclass(frozen=True)
class Request:
    """What IAM sees of one call: the action, the resources it acts on, and the condition keys it carries."""

    action: str
    resources: tuple[str, ...] = ("*",)
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit: bool = False  # denied by a Deny statement rather than by no Allow
    resource: str = "*"  # the resource the call was denied on


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def _wildcard(pattern: str) -> str:
    # fnmatch would read [...] as a character class; IAM knows only * and ?.
    return pattern.replace("[", "[[]")


def parse_policy(value: Any) -> Policy | None:
    """A policy document from JSON text, a file path, or a dict; None turns enforcement off. Raises ValueError naming
    what is wrong."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value
        if not value.lstrip().startswith("{"):
            try:
                text = Path(value).read_text()
            except OSError as error:
                raise ValueError(f"cannot read the IAM policy file {value}: {error.strerror}") from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"the IAM policy is not JSON: {error}") from None
    if not isinstance(value, dict) or not isinstance(value.get("Statement"), (list, dict)):
        raise ValueError("an IAM policy is a JSON object with a Statement list")
    statements = value["Statement"] if isinstance(value["Statement"], list) else [value["Statement"]]
    for number, statement in enumerate(statements, 1):
        where = f"statement {number} of the IAM policy"
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"{where} needs Effect Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            raise ValueError(f"{where} needs exactly one of Action and NotAction")
        if ("Resource" in statement) == ("NotResource" in statement):
            raise ValueError(f"{where} needs exactly one of Resource and NotResource")
        for operator in statement.get("Condition") or {}:
            if operator.removesuffix("IfExists") not in STRING_OPERATORS:
                raise ValueError(
                    f"{where} uses the condition operator {operator}, which the stand-in does not "
                    f"evaluate (it knows {', '.join(sorted(STRING_OPERATORS))} and their IfExists forms)"
                )
    return {**value, "Statement": statements}


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    key = "Action" if "Action" in statement else "NotAction"
    hit = any(fnmatch.fnmatchcase(action.lower(), _wildcard(p.lower())) for p in _as_list(statement[key]))
    return hit if key == "Action" else not hit


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    key = "Resource" if "Resource" in statement else "NotResource"
    hit = any(pattern == "*" or fnmatch.fnmatchcase(resource, _wildcard(pattern)) for pattern in _as_list(statement[key]))
    return hit if key == "Resource" else not hit


def _conditions_match(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        if_exists = operator.endswith("IfExists")
        compare, negated = STRING_OPERATORS[operator.removesuffix("IfExists")]
        for key, wanted in keys.items():
            present = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if present is None:
                if not (if_exists or negated):
                    return False
                continue
            hit = any(
                compare(present, _wildcard(pattern) if "Like" in operator or "Arn" in operator else pattern)
                for pattern in _as_list(wanted)
            )
            if hit == negated:
                return False
    return True


def _applies(statement: dict[str, Any], request: Request, resource: str) -> bool:
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, resource)
        and _conditions_match(statement, request.context)
    )


def decide(policy: Policy, request: Request) -> Decision:
    """Allowed only when every resource of the request is allowed and none is denied."""
    statements = policy["Statement"]
    for resource in request.resources:
        if any(s["Effect"] == "Deny" and _applies(s, request, resource) for s in statements):
            return Decision(False, explicit=True, resource=resource)
        if not any(s["Effect"] == "Allow" and _applies(s, request, resource) for s in statements):
            return Decision(False, resource=resource)
    return Decision(True)


def denial_message(principal: str, request: Request, decision: Decision) -> str:
    """IAM User Guide, "Troubleshooting access denied error messages": who, which action, which resource, and which
    kind of policy denied it."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision.explicit
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {principal} is not authorized to perform: {request.action} on resource: {decision.resource} {why}"
