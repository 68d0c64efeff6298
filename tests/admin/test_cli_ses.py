"""`ses-gateway ses account`, `ses request-production`, and the gateway's suppression list kept
consistent with SES's account-level one (`suppression remove`, `suppression import-ses`),
through the real CLI and aioboto3 client: SESv2 is the project's fake SES over HTTP (moto has
none of these calls), or moto where it answers (`GetSendQuota`)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli
from tests.support.cli import document, refused
from tests.support.fakeses import FakeSes

USE_CASE = "Receipts and password resets for the customers of our shop; bounces are suppressed."


@pytest.fixture
def ses(aws_env: pytest.MonkeyPatch, fake_ses: FakeSes) -> FakeSes:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    return fake_ses


@pytest.fixture
def use_case(tmp_path: Path) -> Path:
    path = tmp_path / "use-case.txt"
    path.write_text(USE_CASE)
    return path


def request(cli: Cli, use_case: Path, *extra: str) -> tuple[int, str, str]:
    return cli(
        "ses",
        "request-production",
        "--mail-type",
        "transactional",
        "--website-url",
        "https://shop.example.com",
        "--use-case-file",
        str(use_case),
        *extra,
    )


def audit_kinds(cli: Cli) -> list[str]:
    return [entry["kind"] for entry in document(cli, "activity", "list")["activity"]]


def test_account_shows_the_sandbox_sending_enforcement_quota_and_rate(
    cli: Cli, ses: FakeSes
) -> None:
    ses.account.update(ProductionAccessEnabled=False, EnforcementStatus="PROBATION")
    ses.account["SendQuota"] = {"Max24HourSend": 200.0, "MaxSendRate": 1.0}

    status, out, err = cli("ses", "account")

    assert status == 0, err
    assert out.splitlines()[1:4] == [
        "account: SANDBOX, sending enabled: yes, enforcement: PROBATION (from GetAccount)",
        "daily quota: 0 sent in the last 24 hours, Max24HourSend 200",
        "MaxSendRate 1/s",
    ]
    (account,) = document(cli, "ses", "account")["accounts"]
    assert account["name"] == "default"
    assert account["account"]["sandbox"] is True
    assert account["account"]["enforcement_status"] == "PROBATION"


def test_account_at_moto_falls_back_to_the_send_quota(
    cli: Cli, aws_env: pytest.MonkeyPatch, moto_server: str
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    (account,) = document(cli, "ses", "account")["accounts"]
    assert account["account"]["source"] == "GetSendQuota"
    assert account["account"]["sandbox"] is None


def test_account_throttled_is_one_line(cli: Cli, ses: FakeSes) -> None:
    # botocore retries a throttled call once: both answers throttled.
    ses.account_state.fail_next("GetAccount", "TooManyRequestsException", "Too many requests", n=2)
    status, out, _ = cli("ses", "account")
    assert status == 0
    assert (
        "account: could not be read: TooManyRequestsException: Too many requests"
        in out.splitlines()
    )


def test_request_production_asks_once_then_says_it_is_pending(
    cli: Cli, ses: FakeSes, use_case: Path
) -> None:
    ses.account.update(ProductionAccessEnabled=False)
    status, out, err = request(cli, use_case, "--additional-contact", "ops@shop.example.com")
    assert status == 0, err
    assert out.startswith("asked AWS for production access for account default (TRANSACTIONAL")
    assert "production access requested: PENDING (case " in out
    assert ses.account_state.calls == [
        (
            "PutAccountDetails",
            {
                "MailType": "TRANSACTIONAL",
                "WebsiteURL": "https://shop.example.com",
                "ContactLanguage": "EN",
                "UseCaseDescription": USE_CASE,
                "ProductionAccessEnabled": True,
                "AdditionalContactEmailAddresses": ["ops@shop.example.com"],
            },
        )
    ]
    assert audit_kinds(cli)[0] == "ses.production_requested"

    status, _, err = request(cli, use_case)
    assert status == 1
    assert err == (
        "ses-gateway: ConflictException: a request for production access is already under "
        "review: wait for AWS's answer (`ses-gateway ses account` shows its status)\n"
    )

    ses.account_state.review("GRANTED")
    assert document(cli, "ses", "account")["accounts"][0]["account"]["sandbox"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mail-type", "BULK"), "mail type 'BULK': use MARKETING or TRANSACTIONAL"),
        (("--website-url", "shop.example.com"), "website URL 'shop.example.com': give the"),
        (("--website-url", "https://x.example/" + "a" * 1000), "SES takes at most 1000"),
        (("--contact-language", "FR"), "contact language 'FR': use EN or JA"),
        (("--additional-contact", "nobody"), "additional contact 'nobody' is not a mail"),
        (
            tuple(arg for n in range(5) for arg in ("--additional-contact", f"o{n}@x.example")),
            "5 additional contacts: SES takes at most 4",
        ),
    ],
)
def test_request_production_refuses_bad_input_before_calling_ses(
    cli: Cli, ses: FakeSes, use_case: Path, args: tuple[str, ...], message: str
) -> None:
    base = {
        "--mail-type": "MARKETING",
        "--website-url": "https://shop.example.com",
        "--use-case-file": str(use_case),
    }
    given = dict(base)
    extra: list[str] = []
    for name, value in zip(args[::2], args[1::2], strict=True):
        if name in base:
            given[name] = value
        else:
            extra += [name, value]
    flat = [item for pair in given.items() for item in pair]
    assert message in refused(cli, "ses", "request-production", *flat, *extra)
    assert ses.account_state.calls == []


def test_request_production_refuses_a_use_case_ses_would(
    cli: Cli, ses: FakeSes, tmp_path: Path
) -> None:
    long = tmp_path / "long.txt"
    long.write_text("x" * 5001)
    status, _, err = request(cli, long)
    assert (status, err) == (
        1,
        "ses-gateway: the use case is 5001 characters: SES takes at most 5000\n",
    )
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n")
    assert "describe the use case" in request(cli, empty)[2]
    assert "cannot read the use case from" in request(cli, tmp_path / "missing.txt")[2]
    assert ses.account_state.calls == []


def test_request_production_denied_names_the_missing_permission(
    cli: Cli, ses: FakeSes, use_case: Path
) -> None:
    ses.account_state.fail_next(
        "PutAccountDetails",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/gw is not authorized to perform: "
        "ses:PutAccountDetails",
        403,
    )
    status, _, err = request(cli, use_case)
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith(
        "ses-gateway: AccessDeniedException: the credentials may not call "
        "ses:PutAccountDetails: add it to their IAM policy (docs/aws-accounts.md); AWS said: "
    )
    assert "ses.production_requested" not in audit_kinds(cli)


def test_remove_takes_the_address_off_ses_account_list_too(cli: Cli, ses: FakeSes) -> None:
    ses.account_state.suppress("bob@example.org")
    document(cli, "suppression", "add", "bob@example.org", "--reason", "bounce")

    status, out, err = cli("suppression", "remove", "bob@example.org")

    assert status == 0, err
    assert out.splitlines() == [
        "bob@example.org is no longer suppressed for every tenant",
        "removed bob@example.org from SES's account-level list too",
    ]
    assert ses.account_state.suppressed == {}
    assert audit_kinds(cli)[:2] == ["suppression.removed_at_ses", "suppression.removed"]


def test_remove_of_an_address_ses_does_not_hold_says_nothing_more(cli: Cli, ses: FakeSes) -> None:
    document(cli, "suppression", "add", "bob@example.org")
    removed = document(cli, "suppression", "remove", "bob@example.org")
    assert removed["ses_account_list"] == {"state": "absent", "message": ""}


def test_a_global_entry_keeps_the_address_on_ses_list(cli: Cli, ses: FakeSes) -> None:
    ses.account_state.suppress("bob@example.org")
    document(cli, "tenant", "create", "acme")
    document(cli, "suppression", "add", "bob@example.org")
    document(cli, "suppression", "add", "bob@example.org", "--tenant", "acme")

    removed = document(cli, "suppression", "remove", "bob@example.org", "--tenant", "acme")

    assert removed["ses_account_list"]["state"] == "kept"
    assert ses.account_state.suppressed == {"bob@example.org": "BOUNCE"}


def test_ses_failure_leaves_the_local_removal_and_says_how_to_retry(cli: Cli, ses: FakeSes) -> None:
    ses.account_state.suppress("bob@example.org")
    document(cli, "suppression", "add", "bob@example.org")
    ses.account_state.fail_next(
        "DeleteSuppressedDestination", "TooManyRequestsException", "Too many requests", n=2
    )

    status, out, err = cli("suppression", "remove", "bob@example.org")

    assert status == 0, err
    assert out.splitlines() == [
        "bob@example.org is no longer suppressed for every tenant",
        "SES's account-level suppression list may still hold bob@example.org "
        "(TooManyRequestsException: SES is throttling ses:DeleteSuppressedDestination: try "
        "again in a minute); retry with `ses-gateway suppression remove bob@example.org`",
    ]
    assert document(cli, "suppression", "list")["suppressions"] == []
    assert ses.account_state.suppressed == {"bob@example.org": "BOUNCE"}

    ses.account_state.fail_next(
        "DeleteSuppressedDestination", "AccessDeniedException", "not authorized", 403
    )
    assert refused(cli, "suppression", "remove", "bob@example.org") == (
        "bob@example.org is not suppressed for every tenant; SES's account-level suppression "
        "list may still hold bob@example.org (AccessDeniedException: the credentials may not "
        "call ses:DeleteSuppressedDestination: add it to their IAM policy "
        "(docs/aws-accounts.md); AWS said: not authorized); retry with "
        "`ses-gateway suppression remove bob@example.org`"
    )
    status, out, err = cli("suppression", "remove", "bob@example.org")
    assert (status, out.splitlines()) == (
        0,
        [
            "bob@example.org was not suppressed for every tenant here",
            "removed bob@example.org from SES's account-level list too",
        ],
    )
    assert ses.account_state.suppressed == {}
    message = refused(cli, "suppression", "remove", "bob@example.org")
    assert message == "bob@example.org is not suppressed for every tenant"


def test_import_ses_adds_the_account_list_once(cli: Cli, ses: FakeSes) -> None:
    old = time.time() - 86400 * 30
    ses.account_state.suppress("Bounced@Example.org", "BOUNCE", at=old)
    ses.account_state.suppress("complained@example.org", "COMPLAINT")
    ses.account_state.suppress("local@localhost", "BOUNCE")
    document(cli, "suppression", "add", "complained@example.org", "--reason", "manual")

    first = document(cli, "suppression", "import-ses")
    again = document(cli, "suppression", "import-ses")

    assert (first["seen"], first["added"], first["already_present"]) == (3, 1, 1)
    assert [row["address"] for row in first["skipped"]] == ["local@localhost"]
    assert (again["added"], again["already_present"]) == (0, 2)
    entries = {e["address"]: e for e in document(cli, "suppression", "list")["suppressions"]}
    assert entries["bounced@example.org"]["reason"] == "bounce"
    assert entries["bounced@example.org"]["tenant"] is None
    assert entries["bounced@example.org"]["detail"].startswith("ses-account: BOUNCE at ")
    assert entries["complained@example.org"]["reason"] == "manual"  # already there: kept

    since = time.strftime("%Y-%m-%d", time.gmtime(old + 86400))
    recent = document(cli, "suppression", "import-ses", "--since", since)
    assert recent["seen"] == 2
    assert audit_kinds(cli)[0] == "suppression.imported"


def test_import_ses_denied_is_one_line(cli: Cli, ses: FakeSes) -> None:
    ses.account_state.fail_next(
        "ListSuppressedDestinations", "AccessDeniedException", "not authorized", 403
    )
    message = refused(cli, "suppression", "import-ses")
    assert message == (
        "AccessDeniedException: the credentials may not call ses:ListSuppressedDestinations: "
        "add it to their IAM policy (docs/aws-accounts.md); AWS said: not authorized"
    )


def test_the_fake_answers_over_http(ses: FakeSes) -> None:
    """The stand-in's routes are those botocore's sesv2 model names (a plain GET here)."""
    ses.account_state.suppress("a@example.org")
    answer = httpx.get(f"{ses.url}/v2/email/suppression/addresses/a%40example.org")
    assert answer.json()["SuppressedDestination"]["Reason"] == "BOUNCE"


def test_request_production_throttled_is_one_line(cli: Cli, ses: FakeSes, use_case: Path) -> None:
    ses.account_state.fail_next(
        "PutAccountDetails", "TooManyRequestsException", "Too many requests", n=2
    )
    status, _, err = request(cli, use_case)
    assert (status, err) == (
        1,
        "ses-gateway: TooManyRequestsException: SES is throttling ses:PutAccountDetails: try "
        "again in a minute\n",
    )


def test_an_endpoint_that_does_not_answer_is_one_line(
    cli: Cli, aws_env: pytest.MonkeyPatch, use_case: Path
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    status, _, err = request(cli, use_case)
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith(
        "ses-gateway: EndpointConnectionError: SES could not be reached for "
        "ses:PutAccountDetails: Could not connect to the endpoint URL"
    )


def test_remove_without_aws_says_ses_was_not_checked(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    document(cli, "suppression", "add", "bob@example.org")
    status, out, _ = cli("suppression", "remove", "bob@example.org")
    assert (status, out.splitlines()) == (
        0,
        [
            "bob@example.org is no longer suppressed for every tenant",
            "SES's account-level suppression list was not checked: no SES client is set up "
            "here (AWS_REGION)",
        ],
    )
    assert "no AWS region is set" in refused(cli, "suppression", "import-ses")


def test_stored_accounts_are_listed_imported_for_their_tenants_and_unsuppressed(
    cli: Cli, ses: FakeSes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored AWS account: listed by `ses account`; its SES list imported for the tenants on
    it (not for everyone); a global entry removed here is removed from every account's list."""
    monkeypatch.setattr("sys.stdin", io.StringIO("partner-secret\n"))
    document(
        cli, "aws-account", "add", "partner", "--region", "eu-west-1",
        "--access-key-id", "AKIAPARTNER000000001",
    )  # fmt: skip
    document(cli, "tenant", "create", "acme")
    document(cli, "tenant", "create", "other")
    document(cli, "tenant", "set", "acme", "--aws-account", "partner")

    names = [account["name"] for account in document(cli, "ses", "account")["accounts"]]
    assert names == ["default", "partner"]

    ses.account_state.suppress("bob@example.org", "BOUNCE")
    report = document(cli, "suppression", "import-ses", "--aws-account", "partner")
    assert (report["seen"], report["added"]) == (1, 1)
    (entry,) = document(cli, "suppression", "list")["suppressions"]
    assert (entry["address"], entry["tenant"]) == ("bob@example.org", "acme")
    assert "no AWS account named 'nope'" in refused(
        cli, "suppression", "import-ses", "--aws-account", "nope"
    )

    document(cli, "suppression", "remove", "bob@example.org", "--tenant", "acme")
    assert ses.account_state.suppressed == {}  # the tenant's account's list
    ses.account_state.suppress("carol@example.org", "COMPLAINT")
    document(cli, "suppression", "add", "carol@example.org")
    removed = document(cli, "suppression", "remove", "carol@example.org")
    assert removed["ses_account_list"]["state"] == "removed"
    assert ses.account_state.suppressed == {}
    assert "suppression.removed_at_ses" in audit_kinds(cli)
