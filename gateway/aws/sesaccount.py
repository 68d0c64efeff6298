"""The SES account itself (SESv2): leaving the sandbox (`PutAccountDetails`) and the
account-level suppression list that SES keeps beside the gateway's own.

Each function takes the SESv2 client of the AWS account it acts on (`client("sesv2")` of
`SesClientProvider.account(name)`), so it works on whichever account a tenant uses. A
production request is checked against botocore's sesv2 service model (lengths, patterns,
enumerations) before SES is called: what SES would refuse is refused here, by field. SES's
refusals come back as one line that names the IAM action at fault.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.exceptions import ClientError

from gateway.aws.ses import DENIED_CODES, _call
from gateway.core.exceptions import InvalidInputError, SesError, SesPermanentError
from gateway.core.types.aws import ProductionRequest, SuppressedDestination

IAM_DOCS = "docs/aws-accounts.md"
_DENIED = DENIED_CODES | {"UnauthorizedOperation"}
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})


@cache
def _members() -> dict[str, Any]:
    """The members of `PutAccountDetails`'s request in botocore's sesv2 model (read once)."""
    model = botocore.session.get_session().get_service_model("sesv2")
    return dict(model.operation_model("PutAccountDetails").input_shape.members)


def production_limits() -> dict[str, Any]:
    """SES's limits on a production request, from botocore's model: the mail types and
    languages, the longest website URL and use case, how many extra contacts."""
    members = _members()
    contacts = members["AdditionalContactEmailAddresses"]
    return {
        "mail_types": tuple(members["MailType"].enum),
        "contact_languages": tuple(members["ContactLanguage"].enum),
        "website_url_max": int(members["WebsiteURL"].metadata["max"]),
        "use_case_max": int(members["UseCaseDescription"].metadata["max"]),
        "contacts_max": int(contacts.metadata["max"]),
        "contact_min": int(contacts.member.metadata["min"]),
        "contact_max": int(contacts.member.metadata["max"]),
    }


def check_production_request(request: ProductionRequest) -> None:
    """Refuse, naming the field, what `PutAccountDetails` would refuse (and a use case left
    empty: SES's reviewers decide on it)."""
    limits = production_limits()
    if request.mail_type not in limits["mail_types"]:
        raise InvalidInputError(
            f"mail type {request.mail_type!r}: use {' or '.join(limits['mail_types'])}",
            "mail_type",
        )
    if request.contact_language not in limits["contact_languages"]:
        raise InvalidInputError(
            f"contact language {request.contact_language!r}: use "
            f"{' or '.join(limits['contact_languages'])}",
            "contact_language",
        )
    url = request.website_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise InvalidInputError(
            f"website URL {url!r}: give the http(s) address of the site the mail is about "
            "(https://example.com)",
            "website_url",
        )
    if len(url) > limits["website_url_max"]:
        raise InvalidInputError(
            f"the website URL is {len(url)} characters: SES takes at most "
            f"{limits['website_url_max']}",
            "website_url",
        )
    if not request.use_case.strip():
        raise InvalidInputError(
            "describe the use case: how you send, to whom, how recipients sign up, and how "
            "bounces and complaints are handled (SES's reviewers decide on it)",
            "use_case",
        )
    if len(request.use_case) > limits["use_case_max"]:
        raise InvalidInputError(
            f"the use case is {len(request.use_case)} characters: SES takes at most "
            f"{limits['use_case_max']}",
            "use_case",
        )
    if len(request.additional_contacts) > limits["contacts_max"]:
        raise InvalidInputError(
            f"{len(request.additional_contacts)} additional contacts: SES takes at most "
            f"{limits['contacts_max']}",
            "additional_contacts",
        )
    for contact in request.additional_contacts:
        if (
            not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", contact)
            or not limits["contact_min"] <= len(contact) <= limits["contact_max"]
        ):
            raise InvalidInputError(
                f"additional contact {contact!r} is not a mail address", "additional_contacts"
            )


def _action(operation: str) -> str:
    """The IAM action of an SESv2 operation (`put_account_details` -> `ses:PutAccountDetails`)."""
    return "ses:" + "".join(word.capitalize() for word in operation.split("_"))


async def _account_call(client: Any, operation: str, **request: Any) -> dict[str, Any]:
    """`_call`, with SES's refusal said in one line that names the IAM action: denied (the
    policy lacks it), throttled (try again), not reached (a region without SES, a network
    fault), or SES's own words."""
    action = _action(operation)
    try:
        return await _call(client, operation, **request)
    except SesError as exc:
        words = str(exc).removeprefix(f"{exc.code}: ").removeprefix(exc.code)
        if exc.code in _DENIED:
            said = (
                f"the credentials may not call {action}: add it to their IAM policy "
                f"({IAM_DOCS})" + (f"; AWS said: {words}" if words else "")
            )
        elif exc.code in _THROTTLED:
            said = f"SES is throttling {action}: try again in a minute"
        elif not isinstance(exc.__cause__, ClientError):  # no answer: connection, timeout
            said = f"SES could not be reached for {action}: {words}"
        else:
            said = f"SES refused {action}" + (f": {words}" if words else "")
        raise type(exc)(exc.code, said) from exc


async def request_production(client: Any, request: ProductionRequest) -> None:
    """Ask AWS to move the account out of the sandbox (`check_production_request` first).
    A request still under review is a `ConflictException`, said as such."""
    params: dict[str, Any] = {
        "MailType": request.mail_type,
        "WebsiteURL": request.website_url.strip(),
        "ContactLanguage": request.contact_language,
        "UseCaseDescription": request.use_case,
        "ProductionAccessEnabled": True,
    }
    if request.additional_contacts:
        params["AdditionalContactEmailAddresses"] = list(request.additional_contacts)
    try:
        await _account_call(client, "put_account_details", **params)
    except SesPermanentError as exc:
        if exc.code != "ConflictException":
            raise
        raise SesPermanentError(
            exc.code,
            "a request for production access is already under review: wait for AWS's answer "
            "(`ses-gateway ses account` shows its status)",
        ) from exc


async def suppressed_destinations(
    client: Any, since: datetime | None = None, page_size: int = 1000
) -> AsyncIterator[list[SuppressedDestination]]:
    """SES's account-level suppression list, a page at a time (`since`: updated at or after)."""
    request: dict[str, Any] = {"PageSize": page_size}
    if since is not None:
        request["StartDate"] = since
    while True:
        response = await _account_call(client, "list_suppressed_destinations", **request)
        yield [
            SuppressedDestination(
                str(summary["EmailAddress"]),
                str(summary.get("Reason") or "BOUNCE"),
                summary.get("LastUpdateTime"),
            )
            for summary in response.get("SuppressedDestinationSummaries") or ()
        ]
        if not response.get("NextToken"):
            return
        request["NextToken"] = response["NextToken"]


async def unsuppress(client: Any, address: str) -> bool:
    """Take `address` off SES's account-level suppression list; False when it was not on it."""
    try:
        await _account_call(client, "delete_suppressed_destination", EmailAddress=address)
    except SesPermanentError as exc:
        if exc.code == "NotFoundException":
            return False
        raise
    return True
