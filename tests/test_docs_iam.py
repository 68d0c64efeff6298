"""The IAM policies of the docs against botocore's service models and against the code: every
action a policy names exists, and every AWS operation the gateway calls is allowed by a policy
of docs/aws-accounts.md.

The operations the gateway calls are found in `gateway/aws/`, the only package allowed to speak
to AWS (import-linter's `aws-in-adapters`): each is named there literally, as the client method
(`put_account_details`) or the operation (`SendEmail`); an f-string that could make an operation
name fails this test, so that no call escapes it.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "docs" / "aws-accounts.md"
OTHER_POLICIES = (ROOT / "docs" / "ses-setup.md",)
SERVICES = {"sesv2": "ses", "ses": "ses", "sns": "sns", "route53": "route53", "sts": "sts"}
"""botocore's service name -> the IAM prefix of its actions (SES v1 and v2 share `ses`)."""
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


@cache
def operations() -> dict[str, set[str]]:
    """Each operation name, as the client method and as the operation, -> its IAM actions."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service, prefix in SERVICES.items():
        for name in session.get_service_model(service).operation_names:
            for spelled in (name, xform_name(name)):
                found.setdefault(spelled, set()).add(f"{prefix}:{name}")
    return found


def policies(path: Path) -> list[dict[str, object]]:
    """The IAM policy documents of a page: its JSON blocks with a `Statement`."""
    documents = [json.loads(block) for block in JSON_BLOCK.findall(path.read_text())]
    return [d for d in documents if isinstance(d, dict) and "Statement" in d]


def actions(policy: dict[str, object]) -> set[str]:
    named: set[str] = set()
    statements = policy["Statement"]
    assert isinstance(statements, list)
    for statement in statements:
        action = statement["Action"]
        named.update([action] if isinstance(action, str) else action)
    return named


def called() -> dict[str, str]:
    """The AWS operations named in `gateway/aws/` -> where."""
    names = operations()
    found: dict[str, str] = {}
    for path in sorted((ROOT / "gateway" / "aws").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Constant) and node.value in names:
                found[str(node.value)] = where
            if isinstance(node, ast.JoinedStr):
                pattern = "".join(
                    re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+"
                    for v in node.values
                )
                made = [name for name in names if re.fullmatch(pattern, name)]
                assert not made, f"{where}: name the AWS operation literally, not {made[:3]}..."
    return found


def test_the_page_has_a_policy_for_each_use() -> None:
    assert len(policies(POLICIES)) >= 7


@pytest.mark.parametrize("path", [POLICIES, *OTHER_POLICIES], ids=lambda p: p.name)
def test_every_action_exists_in_botocore(path: Path) -> None:
    known = {action for spelled in operations().values() for action in spelled}
    for policy in policies(path):
        unknown = sorted(actions(policy) - known)
        assert not unknown, f"{path.name}: no such action in botocore's models: {unknown}"


def test_every_operation_the_gateway_calls_is_allowed() -> None:
    allowed = {action for policy in policies(POLICIES) for action in actions(policy)}
    found = called()
    assert "put_account_details" in found  # the search sees the calls
    missing = {name: where for name, where in found.items() if not operations()[name] & allowed}
    assert not missing, f"allow these in docs/aws-accounts.md: {missing}"
