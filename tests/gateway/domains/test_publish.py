"""The change set of `domain publish` (pure): which hosted zone, and what becomes of each record
against what the zone holds and what the gateway wrote before."""

from __future__ import annotations

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.core.types.domains import (
    DnsRecord,
    HostedZone,
    IdentityState,
    PublishedRecord,
    RecordSet,
)
from gateway.domains.publish import Action, choose_zone, plan, settle, txt_text
from gateway.domains.records import domain_records

ZONE = HostedZone("Z1", "example.com", False)
STATE = IdentityState(
    False, "PENDING", "PENDING", ("tok1", "tok2"), "AWS_SES", None, "mail.example.com"
)
RECORDS = domain_records("example.com", "us-east-1", STATE, None, "dmarc@example.com")
DKIM = "tok1._domainkey.example.com"


def steps(
    rrsets: list[RecordSet], published: list[PublishedRecord] | None = None
) -> dict[tuple[str, str], tuple[Action, tuple[str, ...], str]]:
    change_set = plan(ZONE, "example.com", RECORDS, rrsets, published or [])
    return {
        (s.record.type, s.record.name): (s.action, s.values, s.detail) for s in change_set.steps
    }


def test_an_empty_zone_gets_every_record_created_as_the_gateway_shows_them() -> None:
    found = steps([RecordSet("example.com", "NS", ("ns-1.awsdns-1.com.",))])
    assert found == {
        ("CNAME", DKIM): (Action.CREATE, ("tok1.dkim.amazonses.com.",), "added"),
        ("CNAME", "tok2._domainkey.example.com"): (
            Action.CREATE,
            ("tok2.dkim.amazonses.com.",),
            "added",
        ),
        ("MX", "mail.example.com"): (
            Action.CREATE,
            ("10 feedback-smtp.us-east-1.amazonses.com.",),
            "added",
        ),
        ("TXT", "mail.example.com"): (
            Action.CREATE,
            ('"v=spf1 include:amazonses.com ~all"',),
            "added",
        ),
        ("TXT", "_dmarc.example.com"): (
            Action.CREATE,
            ('"v=DMARC1; p=none; rua=mailto:dmarc@example.com;"',),
            "added",
        ),
    }


def test_records_already_there_are_left_as_they_are_whatever_their_case_or_dot() -> None:
    found = steps(
        [
            RecordSet("TOK1._domainkey.example.com", "CNAME", ("TOK1.dkim.amazonses.com",)),
            RecordSet(
                "mail.example.com", "TXT", ('"v=spf1 include:" "amazonses.com ~all"', '"other"')
            ),
        ]
    )
    assert found[("CNAME", DKIM)][0] is Action.PRESENT
    assert found[("TXT", "mail.example.com")][0] is Action.PRESENT


def test_a_differing_dkim_cname_is_updated() -> None:
    action, values, detail = steps([RecordSet(DKIM, "CNAME", ("old.example.net.",))])[
        ("CNAME", DKIM)
    ]
    assert (action, values) == (Action.UPDATE, ("tok1.dkim.amazonses.com.",))
    assert detail == "was old.example.net."


@pytest.mark.parametrize(
    ("rrset", "key", "says"),
    [
        (
            RecordSet("mail.example.com", "TXT", ('"v=spf1 include:_spf.example.net -all"',)),
            ("TXT", "mail.example.com"),
            "an SPF record is there already (v=spf1 include:_spf.example.net -all): left alone; "
            "merge include:amazonses.com into it by hand",
        ),
        (
            RecordSet("_dmarc.example.com", "TXT", ('"v=DMARC1; p=reject;"',)),
            ("TXT", "_dmarc.example.com"),
            "a DMARC policy is there already (v=DMARC1; p=reject;): kept; merge "
            "rua=mailto:dmarc@example.com into it by hand",
        ),
        (
            RecordSet("mail.example.com", "MX", ("10 mx.example.net.",)),
            ("MX", "mail.example.com"),
            "MX records at mail.example.com (10 mx.example.net.) the gateway did not make",
        ),
        (
            RecordSet(DKIM, "TXT", ('"hello"',)),
            ("CNAME", DKIM),
            "TXT records at tok1._domainkey.example.com: a CNAME cannot sit beside them",
        ),
        (
            RecordSet("_dmarc.example.com", "CNAME", ("dmarc.example.net.",)),
            ("TXT", "_dmarc.example.com"),
            "a CNAME at _dmarc.example.com (to dmarc.example.net.): no other record may sit",
        ),
        (
            RecordSet("mail.example.com", "MX", (), special=True),
            ("MX", "mail.example.com"),
            "an alias or routing-policy MX record set at mail.example.com: left alone",
        ),
    ],
)
def test_what_the_gateway_did_not_make_is_left_alone_and_named(
    rrset: RecordSet, key: tuple[str, str], says: str
) -> None:
    action, values, detail = steps([rrset])[key]
    assert (action, values) == (Action.CONFLICT, ())
    assert says in detail


def test_a_txt_record_set_without_ours_keeps_its_values_beside_ours() -> None:
    action, values, _ = steps([RecordSet("mail.example.com", "TXT", ('"google-site=abc"',))])[
        ("TXT", "mail.example.com")
    ]
    assert (action, values) == (
        Action.UPDATE,
        ('"google-site=abc"', '"v=spf1 include:amazonses.com ~all"'),
    )


def test_what_the_gateway_wrote_and_nobody_changed_is_updated_keeping_other_values() -> None:
    old = ('"v=DMARC1; p=none;"', '"unrelated"')
    written = [PublishedRecord("_dmarc.example.com", "TXT", "Z1", old, None)]
    action, values, _ = steps([RecordSet("_dmarc.example.com", "TXT", old)], written)[
        ("TXT", "_dmarc.example.com")
    ]
    assert (action, values) == (
        Action.UPDATE,
        ('"unrelated"', '"v=DMARC1; p=none; rua=mailto:dmarc@example.com;"'),
    )
    edited = [RecordSet("_dmarc.example.com", "TXT", ('"v=DMARC1; p=quarantine;"', '"x"'))]
    assert steps(edited, written)[("TXT", "_dmarc.example.com")][0] is Action.CONFLICT
    other_zone = [PublishedRecord("_dmarc.example.com", "TXT", "Z2", old, None)]
    assert (
        steps([RecordSet("_dmarc.example.com", "TXT", old)], other_zone)[
            ("TXT", "_dmarc.example.com")
        ][0]
        is Action.CONFLICT
    )


def test_nothing_is_ever_deleted() -> None:
    rrsets = [
        RecordSet("example.com", "TXT", ('"v=spf1 -all"',)),
        RecordSet("www.example.com", "A", ("192.0.2.1",)),
        RecordSet(DKIM, "CNAME", ("old.example.net.",)),
    ]
    change_set = plan(ZONE, "example.com", RECORDS, rrsets, [])
    written = {(s.record.name, s.record.type) for s in change_set.changes}
    assert written <= {(r.name, r.type) for r in RECORDS}
    assert (DKIM, "CNAME") in written  # updated: a DKIM CNAME is the gateway's to manage
    assert all(s.values for s in change_set.changes)  # a record set is written, never emptied


def test_byodkim_key_differing_is_a_conflict_unless_the_gateway_wrote_it() -> None:
    state = IdentityState(False, "PENDING", "PENDING", ("gw202612",), "EXTERNAL")
    records = domain_records("example.com", "us-east-1", state, "NEWKEY")
    name = "gw202612._domainkey.example.com"
    old = RecordSet(name, "TXT", ('"p=OLDKEY"',))
    [step] = [
        s for s in plan(ZONE, "example.com", records, [old], []).steps if s.record.name == name
    ]
    assert step.action is Action.CONFLICT
    ours = [PublishedRecord(name, "TXT", "Z1", ('"p=OLDKEY"',), None)]
    [step] = [
        s for s in plan(ZONE, "example.com", records, [old], ours).steps if s.record.name == name
    ]
    assert (step.action, step.values) == (Action.UPDATE, ('"p=NEWKEY"',))


@pytest.mark.parametrize(
    ("zones", "zone_id", "chosen", "refusal"),
    [
        ([HostedZone("Z1", "com", False), HostedZone("Z2", "example.com", False)], None, "Z2", ""),
        ([HostedZone("Z1", "sub.example.com", False), ZONE], None, "Z1", ""),
        ([HostedZone("Z1", "other.com", False)], None, "", "no Route 53 hosted zone"),
        ([HostedZone("Z1", "ample.com", False)], None, "", "no Route 53 hosted zone"),
        (
            [ZONE, HostedZone("Z2", "example.com", False)],
            None,
            "",
            "several hosted zones named example.com hold sub.example.com: Z1 (public), "
            "Z2 (public); choose one with --zone-id",
        ),
        (
            [HostedZone("Z3", "example.com", True)],
            None,
            "",
            "only a private hosted zone named example.com hold",
        ),
        ([ZONE, HostedZone("Z3", "example.com", True)], "/hostedzone/Z3", "Z3", ""),
        ([ZONE], "Z9", "", "no hosted zone Z9 in this AWS account"),
        (
            [HostedZone("Z4", "other.com", False)],
            "Z4",
            "",
            "hosted zone Z4 is other.com: it cannot hold",
        ),
    ],
)
def test_the_zone_is_the_longest_that_holds_the_domain(
    zones: list[HostedZone], zone_id: str | None, chosen: str, refusal: str
) -> None:
    if chosen:
        assert choose_zone("sub.example.com", zones, zone_id).id == chosen
        return
    with pytest.raises(InvalidInputError) as refused:
        choose_zone("sub.example.com", zones, zone_id)
    assert refusal in str(refused.value)
    assert refused.value.field == "zone_id"


def test_an_interrupted_batch_is_settled_from_the_zone() -> None:
    sent = ('"v=DMARC1; p=none;"',)
    published = [
        PublishedRecord("_dmarc.example.com", "TXT", "Z1", None, sent),
        PublishedRecord(DKIM, "CNAME", "Z1", ("a.",), ("b.",)),
        PublishedRecord("mail.example.com", "MX", "Z1", ("10 x.",), None),
    ]
    applied = settle(published, [RecordSet("_dmarc.example.com.", "TXT", sent)])
    assert [(p.values, p.pending) for p in applied] == [
        (sent, None),
        (("a.",), None),
        (("10 x.",), None),
    ]
    none = settle(published, [RecordSet(DKIM, "CNAME", ("a.",))])
    assert [(p.values, p.pending) for p in none] == [
        (None, None),
        (("a.",), None),
        (("10 x.",), None),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ('"v=spf1 ~all"', "v=spf1 ~all"),
        ('"abc" "def"', "abcdef"),
        (r'"say \"hi\"\059 ok"', 'say "hi"; ok'),
        ("bare", "bare"),
    ],
)
def test_txt_values_are_read_as_their_text(value: str, text: str) -> None:
    assert txt_text(value) == text


def test_the_fingerprint_changes_with_the_changes_only() -> None:
    one = plan(ZONE, "example.com", RECORDS, [], [])
    again = plan(
        ZONE, "example.com", RECORDS, [RecordSet("www.example.com", "A", ("1.2.3.4",))], []
    )
    other = plan(ZONE, "example.com", RECORDS, [RecordSet(DKIM, "CNAME", ("x.",))], [])
    assert one.fingerprint == again.fingerprint != other.fingerprint


def test_records_are_those_the_gateway_shows() -> None:
    change_set = plan(ZONE, "example.com", RECORDS, [], [])
    assert [s.record for s in change_set.steps] == RECORDS
    assert all(isinstance(s.record, DnsRecord) for s in change_set.steps)
