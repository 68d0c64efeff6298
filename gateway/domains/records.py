"""The DNS records a sending domain needs, derived from what SES answered. Pure functions."""

from __future__ import annotations

from gateway.core.types.domains import DnsRecord, IdentityState

SPF_VALUE = "v=spf1 include:amazonses.com ~all"
EASY_DKIM_ZONE = "dkim.amazonses.com"
TTL = 3600
"""The time to live the records are published with (zone-file lines, Route 53)."""


def dmarc_value(report_address: str | None) -> str:
    value = "v=DMARC1; p=none;"
    if report_address:
        value += f" rua=mailto:{report_address};"
    return value


def domain_records(
    domain: str,
    region: str,
    state: IdentityState,
    byodkim_public_key: str | None = None,
    dmarc_report_address: str | None = None,
) -> list[DnsRecord]:
    records: list[DnsRecord] = []
    if state.signing_origin == "EXTERNAL" and state.dkim_tokens:
        selector = state.dkim_tokens[0]
        records.append(
            DnsRecord(
                "TXT",
                f"{selector}._domainkey.{domain}",
                f"p={byodkim_public_key or ''}",
                "DKIM public key (your own key, BYODKIM)",
                True,
            )
        )
    else:
        zone = state.signing_hosted_zone or EASY_DKIM_ZONE
        records += [
            DnsRecord(
                "CNAME",
                f"{token}._domainkey.{domain}",
                f"{token}.{zone}",
                "DKIM signing key kept by SES (Easy DKIM)",
                True,
            )
            for token in state.dkim_tokens
        ]
    if state.mail_from_domain:
        records += [
            DnsRecord(
                "MX",
                state.mail_from_domain,
                f"10 feedback-smtp.{region}.amazonses.com",
                "custom MAIL FROM: bounces come back to SES",
                True,
            ),
            DnsRecord(
                "TXT",
                state.mail_from_domain,
                SPF_VALUE,
                "custom MAIL FROM: SPF authorizes SES to send for it",
                True,
            ),
        ]
    records.append(
        DnsRecord(
            "TXT",
            f"_dmarc.{domain}",
            dmarc_value(dmarc_report_address),
            "DMARC policy (keep an existing one)",
            False,
        )
    )
    return records


def rdata(record: DnsRecord) -> str:
    """The record's value in presentation form, as a zone file (and Route 53) writes it: TXT
    quoted in strings of at most 255 characters, host names with the final dot."""
    value = record.value
    if record.type == "TXT":
        return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    if record.type in ("CNAME", "MX"):
        return value + "."
    return value


def zone_lines(records: list[DnsRecord]) -> list[str]:
    """The records as zone-file lines, ready to paste."""
    return [f"{r.name}.\t{TTL}\tIN\t{r.type}\t{rdata(r)}" for r in records]
