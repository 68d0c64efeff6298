"""One campaign message: the template rendered with the recipient's fields, with RFC 8058
one-click unsubscribe (`List-Unsubscribe` and `List-Unsubscribe-Post`) and a visible
unsubscribe link, and the campaign's id as a header and an SES message tag (so SES events, and
the webhooks made of them, carry it).

The unsubscribe link is the tracking module's (`gateway.tracking.tokens`, served at `/u/...` by
`gateway.endpoints.tracking`), signed for the message's queue id, chosen before the message is
stored, and recipient 0 (the message's one recipient). A template places it with
`{{unsubscribe_url}}`; one that does not gets a footer with the link. The delivery's tracking
rewriter then finds `List-Unsubscribe` there and adds no other.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from gateway.compose.mime import Draft, Mailbox, mailbox
from gateway.compose.templates import Template
from gateway.core.types.campaigns import CampaignInfo
from gateway.tracking.rewrite import SKIP_ATTRIBUTE
from gateway.tracking.tokens import LinkKind, Token, host_of, sign

UNSUBSCRIBE_VARIABLE = "unsubscribe_url"
"""The variable a template writes its unsubscribe link with."""
EMAIL_VARIABLE = "email"
"""The recipient's address, as a variable."""
CAMPAIGN_HEADER = "X-SES-Gateway-Campaign"
CAMPAIGN_TAG = "campaign"


def given_fields(address: str, fields: Mapping[str, str], url: str) -> dict[str, str]:
    """What a template is rendered with: the contact's fields, its address and its link."""
    return {**fields, EMAIL_VARIABLE: address, UNSUBSCRIBE_VARIABLE: url}


def unsubscribe_url(key: bytes, base_url: str, host: str, queue_id: str) -> str:
    """The link for message `queue_id`; `host`: `base_url`'s."""
    return f"{base_url}/u/{sign(key, Token(LinkKind.UNSUBSCRIBE, queue_id, 0, host))}"


_BODY_END = re.compile("</body>", re.IGNORECASE)


def _html_footer(body: str, url: str) -> str:
    """The link before the last `</body>` (in any case), found in `body` itself: not in a
    lower-cased copy (made for every message; nor does lowering keep every character's place:
    `İ` becomes two)."""
    link = (
        f'<p style="font-size:12px;color:#666666">'
        f'<a href="{html.escape(url)}" {SKIP_ATTRIBUTE}>Unsubscribe</a></p>'
    )
    end = -1
    for end_tag in _BODY_END.finditer(body):
        end = end_tag.start()
    return body[:end] + link + body[end:] if end >= 0 else body + link


@dataclass(frozen=True)
class Composer:
    """Makes the messages of one campaign: its template parsed once."""

    campaign: CampaignInfo
    template: Template
    key: bytes
    """The tracking tokens' signing key."""
    base_url: str
    """`PUBLIC_URL`: where the unsubscribe link points."""

    @property
    def sender(self) -> str:
        """The sender's address (of `Name <address>`)."""
        return self._from.address

    # What every message of the campaign shares, worked out once.
    @cached_property
    def _host(self) -> str:
        return host_of(urlsplit(self.base_url).netloc)

    @cached_property
    def _from(self) -> Mailbox:
        return mailbox(self.campaign.sender, "from")

    @cached_property
    def _reply_to(self) -> tuple[Mailbox, ...]:
        reply_to = self.campaign.reply_to
        return (mailbox(reply_to, "reply_to"),) if reply_to else ()

    def draft(self, address: str, fields: Mapping[str, str], queue_id: str) -> Draft:
        """The message to `address`; `MissingVariables` if its fields lack a required one."""
        url = unsubscribe_url(self.key, self.base_url, self._host, queue_id)
        rendered = self.template.render(given_fields(address, fields, url))
        body_html, body_text = rendered.html, rendered.text
        if UNSUBSCRIBE_VARIABLE not in self.template.variables:
            body_html = _html_footer(body_html, url)
            body_text = f"{body_text.rstrip()}\n\n--\nUnsubscribe: {url}\n"
        campaign = self.campaign
        return Draft(
            sender=self._from,
            to=(Mailbox(address),),
            reply_to=self._reply_to,
            subject=rendered.subject,
            html=body_html,
            text=body_text,
            headers=(
                ("List-Unsubscribe", f"<{url}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                (CAMPAIGN_HEADER, str(campaign.id)),
            ),
            tags={CAMPAIGN_TAG: str(campaign.id)},
        )
