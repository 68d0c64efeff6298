"""Tenants' message templates: create, edit and delete (audited), preview with given fields or
a contact's, a test send, and the sending tenant's template found by id or name for the send API.

Every HTML part is sanitised (`gateway/compose/sanitize.py`) and parsed before it is stored, so
a stored template always renders, and holds nothing a browser or a mail client would run.
"""

from __future__ import annotations

from collections.abc import Mapping

from admin.ops import contacts, emails
from admin.ops.context import Context
from gateway.audience import contacts as audience
from gateway.compose.sanitize import clean_html
from gateway.compose.submit import Refused
from gateway.compose.templates import Rendered, Template, compile_template
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.names import given_name
from gateway.identity.accounts import now
from gateway.policy.rules import shown_rule
from gateway.storage import templates as store
from gateway.storage.templates import TemplateInfo

NAME_LENGTH = 100
SUBJECT_LENGTH = 998
PART_LENGTH = 1_000_000
"""The most characters of an HTML or a text part (a message is rarely a tenth of it)."""


def _subject(subject: str) -> str:
    subject = subject.strip()
    controls = any(c != "\t" and (c < " " or c == "\x7f") for c in subject)
    if len(subject) > SUBJECT_LENGTH or controls:
        raise InvalidInputError(
            f"a subject is one line of at most {SUBJECT_LENGTH} characters", "subject"
        )
    return subject


def _part(source: str, field: str) -> str:
    if len(source) > PART_LENGTH:
        raise InvalidInputError(f"the {field} part is over {PART_LENGTH:,} characters", field)
    return source


def _checked(subject: str, html: str, text: str | None) -> tuple[str, str, str | None]:
    """(subject, sanitised HTML, text or None) once they parse as a template."""
    subject = _subject(subject)
    html = clean_html(_part(html, "html"))
    text = _part(text, "text") if text and text.strip() else None
    compile_template(subject, html, text)
    return subject, html, text


def compiled(template: TemplateInfo) -> Template:
    """The stored template, parsed: what previews, test sends and campaigns render."""
    return compile_template(template.subject, template.html, template.text)


async def list_templates(ctx: Context, tenant: str | None = None) -> list[TemplateInfo]:
    """The actor's tenant's templates; an admin's: every tenant's, or the one named."""
    return await store.list_templates(ctx.db, ctx.tenant_name(tenant or None))


async def get_template(ctx: Context, template_id: int) -> TemplateInfo:
    template = await store.get_template(ctx.db, template_id)
    ctx.owns(template.tenant, f"template {template_id}")
    return template


async def find_template(ctx: Context, name: str, tenant: str | None = None) -> TemplateInfo:
    """The template named `name` of the actor's tenant (an admin names the tenant)."""
    owner = await ctx.require_tenant(tenant or None)
    return await store.find_template(ctx.db, owner.name, name)


async def create_template(
    ctx: Context,
    name: str,
    subject: str,
    html: str,
    text: str | None = None,
    tenant: str | None = None,
) -> TemplateInfo:
    """A new template; `text` None or blank: made from the HTML."""
    ctx.require_write()
    owner = await ctx.require_tenant(tenant or None)
    name = given_name(name, "a template", NAME_LENGTH)
    subject, html, text = _checked(subject, html, text)
    template_id = await store.add_template(ctx.db, owner.id, name, subject, html, text, now())
    await ctx.audit("template.created", name, f"template {template_id}", tenant=owner.name)
    return await store.get_template(ctx.db, template_id)


async def update_template(
    ctx: Context,
    template_id: int,
    *,
    name: str | None = None,
    subject: str | None = None,
    html: str | None = None,
    text: str | None = None,
) -> TemplateInfo:
    """Change what is given (None: unchanged); `text` "": made from the HTML from now on."""
    ctx.require_write()
    template = await get_template(ctx, template_id)
    new_text = template.text if text is None else text
    checked = _checked(
        template.subject if subject is None else subject,
        template.html if html is None else html,
        new_text,
    )
    changes = dict(zip(("subject", "html", "text"), checked, strict=True))
    if name is not None:
        changes["name"] = given_name(name, "a template", NAME_LENGTH)
    changed = sorted(k for k, v in changes.items() if v != getattr(template, k))
    await store.update_template(ctx.db, template.id, now(), **changes)
    said = f"template {template.id}: {', '.join(changed) or 'nothing'} changed"
    await ctx.audit("template.updated", changes.get("name") or template.name, said, template.tenant)
    return await store.get_template(ctx.db, template.id)


async def delete_template(ctx: Context, template_id: int) -> TemplateInfo:
    ctx.require_write()
    template = await get_template(ctx, template_id)
    await store.delete_template(ctx.db, template.id)
    await ctx.audit(
        "template.deleted", template.name, f"template {template.id}", tenant=template.tenant
    )
    return template


async def sending(ctx: Context, template: int | str, tenant: str | None = None) -> TemplateInfo:
    """The template of the tenant that sends (`emails.principal`): an int is its id, a str its
    name. Another tenant's is not found, as one that does not exist, even for an admin naming
    the tenant: a message is sent as one tenant."""
    owner = (await emails.principal(ctx, tenant)).tenant_name
    if isinstance(template, str):
        return await store.find_template(ctx.db, owner, template.strip())
    found = await store.get_template(ctx.db, template)
    if found.tenant != owner:
        raise NotFoundError(f"no template {template}")
    return found


async def rendered(
    ctx: Context,
    template: int | str | None,
    variables: Mapping[str, str],
    tenant: str | None = None,
) -> Rendered | None:
    """What the send API and `ses-gateway send --template` send: the sending tenant's template
    rendered with `variables` (`MissingVariables` names a variable without value or fallback);
    None without a template, when no variables are given either."""
    if template is None:
        if variables:
            raise InvalidInputError("variables: give them with a template", "variables")
        return None
    return compiled(await sending(ctx, template, tenant)).render(variables)


async def _fields(
    ctx: Context,
    template: TemplateInfo,
    given: Mapping[str, str],
    contact: str | None,
    list_name: str | None,
) -> dict[str, str]:
    """`given` over the fields of the contact named, of the template's tenant (`--list`: on
    that list; without, on the one list the address is on)."""
    if not (contact and contact.strip()):
        if list_name and list_name.strip():
            raise InvalidInputError("list: name the contact too", "list")
        return dict(given)
    found = await contacts.find_contact(ctx, contact, list_name, template.tenant)
    return {**audience.variables(found), **given}


async def preview(
    ctx: Context,
    template_id: int,
    fields: Mapping[str, str],
    contact: str | None = None,
    list_name: str | None = None,
) -> Rendered:
    """The template rendered with `fields` over those of `contact` (an address on the tenant's
    lists) when one is named; `MissingVariables` names what a variable without a default lacks."""
    template = await get_template(ctx, template_id)
    return compiled(template).render(await _fields(ctx, template, fields, contact, list_name))


async def send_test(
    ctx: Context,
    template_id: int,
    to: str,
    sender: str,
    fields: Mapping[str, str],
    contact: str | None = None,
    list_name: str | None = None,
) -> str:
    """Render as `preview` does (`email`: `to`, unless a contact is named) and send to `to` from
    `sender` (an address the tenant may send from), by the send API's path: the queue id."""
    ctx.require_write()
    template = await get_template(ctx, template_id)
    variables = await _fields(ctx, template, fields, contact, list_name)
    rendered = compiled(template).render({"email": to.strip(), **variables})
    try:
        draft = emails.draft(sender.strip(), to=[to.strip()], template=rendered)
    except InvalidInputError as exc:  # `to.0`: this request's `to` is one address
        raise InvalidInputError(str(exc), (exc.field or "").partition(".")[0] or None) from exc
    submitted = await emails.send(ctx, emails.Email(draft), template.tenant)
    if submitted.queue_id is None:
        raise _refused(submitted.refused[0])
    queue_id = submitted.queue_id
    said = f"template {template.id} to {to.strip()} as {queue_id}"
    await ctx.audit("template.test_sent", template.name, said, tenant=template.tenant)
    return queue_id


def _refused(refused: Refused) -> InvalidInputError:
    """The SMTP reply's sentence, without its codes, under the input it is about (`from`, or
    `to` for the recipient)."""
    sentence = refused.refusal.reply.split(" ", 2)[-1]
    field = "to" if refused.address is not None else "from"
    return InvalidInputError(f"refused ({shown_rule(refused.refusal.rule)}): {sentence}", field)
