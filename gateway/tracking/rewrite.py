"""Open pixel, tracked links and one-click unsubscribe, spliced into the raw bytes of a message.

A pure function over bytes. The MIME tree is found from the boundary parameters; only the body of
each `text/html` part that changes is decoded, edited and encoded again, in its own charset and
transfer encoding. Every other byte (header blocks, boundaries, preambles, attachments, other
parts) is copied as it came. Inside the HTML only `href` values are replaced and the pixel is
inserted; the markup is never re-serialized.

Left alone, with the reason in `Rewritten.skipped`:

- the whole message when it has a `DKIM-Signature` field (`dkim-signed`), unless `strip_dkim`;
- the whole message, unsubscribe fields included, when any part is `multipart/signed`
  (`signed: ...`), `multipart/encrypted` (`encrypted: ...`), S/MIME `application/(x-)pkcs7-mime`
  (`smime: ...`), a PGP part (`pgp: application/...`) or a text part carrying an inline PGP block
  (`pgp: inline`);
- an HTML part whose charset or transfer encoding cannot be decoded and encoded back byte for
  byte (`charset: ...`, `transfer-encoding: ...`); the other parts are still tracked.

HTML attachments (`Content-Disposition: attachment`) and the content of `message/rfc822` parts
are never changed. A link carrying `SKIP_ATTRIBUTE` keeps its URL, and the attribute stays.
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from html.entities import html5
from typing import AnyStr

from gateway.core.headers import split_header

SKIP_ATTRIBUTE = "data-ses-gateway-notrack"

_MAX_DEPTH = 32  # deeper multiparts are left as they are
_PROTECTED = {
    "multipart/signed": "signed: multipart/signed",
    "multipart/encrypted": "encrypted: multipart/encrypted",
    "application/pkcs7-mime": "smime: application/pkcs7-mime",
    "application/x-pkcs7-mime": "smime: application/x-pkcs7-mime",
    "application/pgp-encrypted": "pgp: application/pgp-encrypted",
    "application/pgp-signature": "pgp: application/pgp-signature",
}
_PGP_MARKERS = (b"-----BEGIN PGP MESSAGE-----", b"-----BEGIN PGP SIGNED MESSAGE-----")
_PLAIN_ENCODINGS = ("7bit", "8bit", "binary")
_PARSER = BytesHeaderParser(policy=compat32)
_EMPTY_LINE = re.compile(rb"\n\r?\n")
_LONG_LINE = re.compile(rb"[^\r\n]{999}")  # RFC 5322: at most 998 octets before CRLF
_BARE_LF = re.compile(rb"(?<!\r)\n")
_BASE64_LINE = 76
_EOL = b"\r\n"
_LINE_END = re.compile(rb"\r\n|\r|\n")
_UNSUBSCRIBE_URL = re.compile(r"[!-;=?-~]+")  # printable ASCII without < and >

# HTML tokenizing (WHATWG "tokenization"), only as far as finding tags and attribute values.
_MARKUP = re.compile(r"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]*)|[!?/])")
_COMMENT_END = re.compile(r"-?>|.*?--!?>", re.S)
_GAP = re.compile(r"[\t\n\f\r /]*")
_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_LINK_TAGS = ("a", "area")
_RAW_TEXT = {
    name: re.compile(rf"</{name}(?=[\t\n\f\r />])", re.I)
    for name in ("style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}
# Script data (WHATWG 13.2.5.4 onwards): "<!--" escapes it, and in an escaped part "<script"
# escapes it twice, so that "</script" there does not end it.
_SCRIPT_STEP = re.compile(r"<!--(-*>)?|-->|<(/?)script(?=[\t\n\f\r />])", re.I)
_FOREIGN = ("svg", "math")
_CDATA_END = re.compile(r"]]>")
_VOID = frozenset(
    ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr")
)
_INTEGRATION_POINTS = frozenset(("foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext"))
# Start tags that end SVG or MathML content (WHATWG 13.2.6.5, "any other start tag").
# fmt: off
_BREAKOUT = frozenset((
    "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em",
    "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu",
    "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub",
    "sup", "table", "tt", "u", "ul", "var",
))
# fmt: on
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_TRACKABLE = re.compile(r"https?://", re.I)
_URL_SPACE = "".join(map(chr, range(0x21)))  # C0 controls and space, trimmed by URL parsers


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What to change; each feature is off when its field is None."""

    open_pixel_url: str | None
    link: Callable[[str], str] | None
    unsubscribe_url: str | None
    strip_dkim: bool = False


@dataclass(frozen=True, slots=True)
class Rewritten:
    """The message to send; `data` is the input itself when nothing applied."""

    data: bytes
    changed: bool
    skipped: str | None
    links: int
    pixels: int


@dataclass(frozen=True, slots=True)
class _Entity:
    """A MIME entity spanning data[start:end]; its header block ends at header_end."""

    start: int
    fields: list[bytes]
    header_end: int
    body_start: int
    end: int
    header: Message


@dataclass(frozen=True, slots=True)
class _Attribute:
    """An attribute of a tag; its value is text[start:end], quote is None when it has none."""

    name: str
    start: int
    end: int
    quote: str | None


@dataclass(frozen=True, slots=True)
class _Tracked:
    edits: list[tuple[int, int, bytes]]
    links: int
    pixels: int


def rewrite(data: bytes, options: Rewrite) -> Rewritten:
    """Track the HTML parts and add the unsubscribe fields, as far as the message allows."""
    if options.open_pixel_url is None and options.link is None and options.unsubscribe_url is None:
        return Rewritten(data, changed=False, skipped=None, links=0, pixels=0)
    top = _entity(data, 0, len(data), "text/plain")
    names = list(_field_spans(top))
    dkim = [(start, end) for name, start, end in names if name == b"dkim-signature"]
    if dkim and not options.strip_dkim:
        return Rewritten(data, changed=False, skipped="dkim-signed", links=0, pixels=0)
    first = data.find(b"\n")
    eol = b"\n" if first >= 0 and data[first - 1 : first] != b"\r" else b"\r\n"
    leaves: list[_Entity] = []
    protected = _walk(data, top, 0, leaves) or _inline_pgp(data, leaves)
    if protected is not None:
        return Rewritten(data, changed=False, skipped=protected, links=0, pixels=0)
    skipped: str | None = None
    edits: list[tuple[int, int, bytes]] = []
    links = pixels = 0
    if options.open_pixel_url is not None or options.link is not None:
        for tracked in [_track_part(data, leaf, options, eol) for leaf in leaves if _is_body(leaf)]:
            if isinstance(tracked, str):
                skipped = skipped or tracked
            elif tracked is not None:
                edits.extend(tracked.edits)
                links += tracked.links
                pixels += tracked.pixels
    if options.unsubscribe_url is not None and all(n != b"list-unsubscribe" for n, _, _ in names):
        post = any(name == b"list-unsubscribe-post" for name, _, _ in names)
        fields = _unsubscribe_fields(options.unsubscribe_url, eol, post=not post)
        if top.fields and not top.fields[-1].endswith(b"\n"):
            fields = eol + fields
        edits.append((top.header_end, top.header_end, fields))
    if not edits:
        return Rewritten(data, changed=False, skipped=skipped, links=0, pixels=0)
    edits.extend((start, end, b"") for start, end in dkim)
    return Rewritten(
        _splice(data, edits), changed=True, skipped=skipped, links=links, pixels=pixels
    )


def _entity(data: bytes, start: int, end: int, default_type: str) -> _Entity:
    empty_line = _EMPTY_LINE.search(data, start, end)
    fields, _ = split_header(data[start : empty_line.start() + 1 if empty_line else end])
    header_end = start + sum(map(len, fields))
    body_start = header_end
    if data.startswith(b"\r\n", header_end, end):
        body_start += 2
    elif data.startswith(b"\n", header_end, end):
        body_start += 1
    header = _PARSER.parsebytes(b"".join(fields))
    header.set_default_type(default_type)
    return _Entity(start, fields, header_end, body_start, end, header)


def _field_spans(entity: _Entity) -> Iterator[tuple[bytes, int, int]]:
    """(lower-case name, start, end) of each header field of the entity."""
    position = entity.start
    for field in entity.fields:
        yield field.split(b":", 1)[0].strip().lower(), position, position + len(field)
        position += len(field)


def _walk(data: bytes, entity: _Entity, depth: int, leaves: list[_Entity]) -> str | None:
    """Collect the leaf parts under entity; the reason to leave tracking out, if any."""
    content_type = entity.header.get_content_type()
    if content_type in _PROTECTED:
        return _PROTECTED[content_type]
    boundary = entity.header.get_boundary()
    if entity.header.get_content_maintype() != "multipart" or not boundary or depth >= _MAX_DEPTH:
        leaves.append(entity)
        return None
    default_type = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
    delimiter = boundary.encode("utf-8", "surrogateescape")
    for start, end in _parts(data, entity.body_start, entity.end, delimiter):
        reason = _walk(data, _entity(data, start, end, default_type), depth + 1, leaves)
        if reason is not None:
            return reason
    return None


def _parts(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The (start, end) of each body part between the delimiter lines (RFC 2046 5.1.1).

    A part ends before the line break that precedes its delimiter line: RFC 2046 counts that break
    as the delimiter's, so no rewrite of a body can take it away. Lines end at CRLF, LF or a bare
    CR, as Python's parser ends them: a delimiter line it finds is found here too.
    """
    delimiter = b"--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    position = start
    while (found := data.find(delimiter, position, end)) >= 0:
        position = found + len(delimiter)
        line_end = _LINE_END.search(data, position, end)
        rest = data[position : line_end.start() if line_end else end]
        closing = rest.startswith(b"--")
        if (found > start and data[found - 1] not in _EOL) or rest[2 * closing :].strip(b" \t"):
            continue  # not a delimiter line: "--boundary", then "--" to close, then blanks
        if part_start is not None:
            line_break = 2 if data[found - 2 : found] == b"\r\n" else 1
            parts.append((part_start, max(part_start, found - line_break)))
        if closing:
            return parts
        part_start = line_end.end() if line_end else end
    if part_start is not None:
        parts.append((part_start, end))
    return parts


def _is_body(part: _Entity) -> bool:
    """An HTML part that is the message's text, not an attached HTML file."""
    html_part = part.header.get_content_type() == "text/html"
    return html_part and part.header.get_content_disposition() != "attachment"


def _transfer_encoding(entity: _Entity) -> str:
    return str(entity.header.get("content-transfer-encoding", "7bit")).strip().lower()


def _decode(body: bytes, encoding: str) -> bytes | None:
    """The content under the transfer encoding; None when it is unknown or broken."""
    if encoding in _PLAIN_ENCODINGS:
        return body
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            return None
    return None


def _inline_pgp(data: bytes, leaves: list[_Entity]) -> str | None:
    for leaf in leaves:
        if leaf.header.get_content_maintype() == "text":
            content = _decode(data[leaf.body_start : leaf.end], _transfer_encoding(leaf))
            if content is not None and any(marker in content for marker in _PGP_MARKERS):
                return "pgp: inline"
    return None


def _track_part(data: bytes, part: _Entity, options: Rewrite, eol: bytes) -> _Tracked | str | None:
    """The edits that track one HTML part, None when nothing changes, or why it is left alone."""
    if part.body_start == part.header_end:
        return None  # no empty line, so no body to add to
    encoding = _transfer_encoding(part)
    body = data[part.body_start : part.end]
    content = _decode(body, encoding)
    if content is None:
        return f"transfer-encoding: {encoding}"
    charset = str(part.header.get_content_charset("us-ascii"))
    try:
        text = content.decode(charset, "surrogateescape")
        if text.encode(charset, "surrogateescape") != content:
            return f"charset: {charset} does not round-trip"
        new_text, links, pixels = _track_html(text, options)
        if new_text == text:
            return None
        new_content = new_text.encode(charset, "surrogateescape")
    except (LookupError, UnicodeError):
        return f"charset: {charset}"
    new_body, new_encoding = _encode(new_content, encoding, body, eol)
    edits = [(part.body_start, part.end, new_body)]
    if new_encoding != encoding:
        edits.extend(_set_transfer_encoding(part, new_encoding, eol))
    return _Tracked(edits, links, pixels)


def _encode(content: bytes, encoding: str, original: bytes, eol: bytes) -> tuple[bytes, str]:
    """The body for content in the part's transfer encoding, and that encoding.

    A 7bit or 8bit part that would get a line over 998 octets (a long href on a long line)
    becomes quoted-printable, which has no such limit on the decoded lines.
    """
    if encoding == "base64":
        encoded = binascii.b2a_base64(content, newline=False)
        lines = [encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)]
        return eol.join(lines) + original[len(original.rstrip(b"\r\n")) :], encoding
    if encoding == "binary" or (encoding != "quoted-printable" and not _LONG_LINE.search(content)):
        return content, encoding
    encoded = binascii.b2a_qp(content)
    if eol == b"\r\n":
        encoded = _BARE_LF.sub(b"\r\n", encoded)  # b2a_qp follows the first line's break
    return encoded, "quoted-printable"


def _set_transfer_encoding(
    part: _Entity, encoding: str, eol: bytes
) -> list[tuple[int, int, bytes]]:
    field = b"Content-Transfer-Encoding: " + encoding.encode("ascii") + eol
    spans = [(s, e) for name, s, e in _field_spans(part) if name == b"content-transfer-encoding"]
    if not spans:
        return [(part.header_end, part.header_end, field)]
    return [(spans[0][0], spans[0][1], field), *((s, e, b"") for s, e in spans[1:])]


def _unsubscribe_fields(url: str, eol: bytes, *, post: bool) -> bytes:
    if not _UNSUBSCRIBE_URL.fullmatch(url):
        raise ValueError(f"unsubscribe URL must be printable ASCII without < or >: {url!r}")
    fields = f"List-Unsubscribe: <{url}>".encode("ascii") + eol
    if post:
        fields += b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" + eol  # RFC 8058
    return fields


def _splice(data: AnyStr, edits: list[tuple[int, int, AnyStr]]) -> AnyStr:
    """data with each span data[start:end] replaced; the spans do not overlap."""
    pieces: list[AnyStr] = []
    position = 0
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0]):
        pieces += (data[position:start], replacement)
        position = end
    pieces.append(data[position:])
    return data[:0].join(pieces)


def _track_html(text: str, options: Rewrite) -> tuple[str, int, int]:
    """The HTML with tracked links and the pixel, and how many of each."""
    edits: list[tuple[int, int, str]] = []
    closing = {"body": -1, "html": -1}
    # Open <svg> and <math> elements ("svg"), the integration points in them where HTML rules
    # come back ("point"), and the HTML elements opened in those ("html"): while the last is an
    # SVG or MathML element there is no raw text, and CDATA sections, as html5lib reads them.
    foreign: list[tuple[str, str]] = []
    position = 0
    while markup := _MARKUP.search(text, position):
        if markup.group(1):
            comment_end = _COMMENT_END.match(text, markup.end())
            if comment_end is None:
                break
            position = comment_end.end()
            continue
        current = foreign[-1][1] if foreign else "html"
        if current != "html" and text.startswith("<![CDATA[", markup.start()):
            cdata_end = _CDATA_END.search(text, markup.start() + 9)
            if cdata_end is None:
                break
            position = cdata_end.end()
            continue
        if markup.group(3) is None:  # <!DOCTYPE>, <?xml?>, </ >: a bogus comment up to ">"
            position = text.find(">", markup.end()) + 1
            if position == 0:
                break
            continue
        tag = _tag(text, markup.end())
        if tag is None:
            break
        attributes, position, self_closing = tag
        name = markup.group(3).lower()
        if markup.group(2):
            if name in closing:
                closing[name] = markup.start()
            else:  # closes the element and what it holds; else ignored
                names = [open_name for open_name, _ in foreign]
                if name in names:
                    del foreign[len(names) - 1 - names[::-1].index(name) :]
            continue
        if name in _LINK_TAGS and options.link is not None:
            edit = _track_link(text, attributes, options.link)
            if edit is not None:
                edits.append(edit)
        if current == "svg":
            if name in _BREAKOUT or (
                name == "font" and any(a.name in ("color", "face", "size") for a in attributes)
            ):
                while foreign and foreign[-1][1] == "svg":
                    foreign.pop()
                if foreign and not self_closing and name not in _VOID:
                    foreign.append((name, "html"))
            elif not self_closing and name in _FOREIGN:
                foreign.append((name, "svg"))
            elif not self_closing and _integration_point(text, name, attributes):
                foreign.append((name, "point"))
            continue  # no raw text in SVG or MathML: <style> there is an element like others
        if name in _FOREIGN and not self_closing:
            foreign.append((name, "svg"))
        elif name == "plaintext":
            break  # the rest of the document is text
        elif name == "script":
            position = _script_end(text, position)
        elif name in _RAW_TEXT:
            raw_end = _RAW_TEXT[name].search(text, position)
            if raw_end is None:
                break
            position = raw_end.start()
        elif foreign and not self_closing and name not in _VOID:
            foreign.append((name, "html"))
    links = len(edits)
    if options.open_pixel_url is not None:
        at = next((p for p in closing.values() if p >= 0), len(text.rstrip(_URL_SPACE)))
        edits.append((at, at, _pixel(options.open_pixel_url)))
    return _splice(text, edits), links, len(edits) - links


def _integration_point(text: str, name: str, attributes: list[_Attribute]) -> bool:
    """Whether this SVG or MathML element holds HTML (WHATWG 13.2.6.5): SVG foreignObject,
    desc and title, MathML's text elements, and annotation-xml that says it is HTML."""
    if name in _INTEGRATION_POINTS:
        return True
    encoding = next((a for a in attributes if a.name == "encoding"), None)
    return (
        name == "annotation-xml"
        and encoding is not None
        and text[encoding.start : encoding.end].lower() in ("text/html", "application/xhtml+xml")
    )


def _script_end(text: str, position: int) -> int:
    """Where the `</script` that ends the script data starting at position is (else the end)."""
    escaped = twice = False
    while step := _SCRIPT_STEP.search(text, position):
        position = step.end()
        found = step.group().lower()
        if found.startswith("<!--"):
            escaped = escaped or not step.group(1)  # "<!-->" opens and closes at once
        elif found == "-->":
            escaped = twice = False
        elif not escaped:
            if step.group(2):
                return step.start()
        elif step.group(2):
            if not twice:
                return step.start()
            twice = False
        else:
            twice = True
    return len(text)


def _tag(text: str, position: int) -> tuple[list[_Attribute], int, bool] | None:
    """The attributes of the tag whose name ends at position, where it ends and whether it
    closes itself (`/>`); None at EOF."""
    attributes: list[_Attribute] = []
    while True:
        gap = position
        position = _empty_or_more(_GAP, text, position)
        if position >= len(text):
            return None
        if text[position] == ">":
            return attributes, position + 1, position > gap and text[position - 1] == "/"
        name = _NAME.match(text, position)
        assert name is not None
        position = name.end()
        equals = _EQUALS.match(text, position)
        if equals is None:
            attributes.append(_Attribute(name.group().lower(), position, position, None))
            continue
        position = equals.end()
        quote = text[position : position + 1]
        if quote in ('"', "'"):
            close = text.find(quote, position + 1)
            if close < 0:
                return None
            attributes.append(_Attribute(name.group().lower(), position + 1, close, quote))
            position = close + 1
        else:
            value_end = _empty_or_more(_UNQUOTED, text, position)
            attributes.append(_Attribute(name.group().lower(), position, value_end, ""))
            position = value_end


def _empty_or_more(pattern: re.Pattern[str], text: str, position: int) -> int:
    """Where a match of pattern, which may be empty, ends."""
    match = pattern.match(text, position)
    assert match is not None
    return match.end()


def _track_link(
    text: str, attributes: list[_Attribute], link: Callable[[str], str]
) -> tuple[int, int, str] | None:
    """The edit that puts the tracked URL in the tag's href, if the link is to be tracked."""
    if any(attribute.name == SKIP_ATTRIBUTE for attribute in attributes):
        return None
    href = next((attribute for attribute in attributes if attribute.name == "href"), None)
    if href is None or href.quote is None:
        return None
    value = _unescape_attribute(text[href.start : href.end]).strip(_URL_SPACE)
    url = value.replace("\t", "").replace("\n", "").replace("\r", "")
    if not _TRACKABLE.match(url):
        return None
    tracked = link(url)
    if tracked == url:
        return None
    escaped = html.escape(tracked)
    return href.start, href.end, escaped if href.quote else f'"{escaped}"'


def _unescape_attribute(value: str) -> str:
    """Character references decoded as in an attribute value (`&copy=1` stays as it is)."""

    def replace(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("#") or reference in html5:
            return html.unescape(match.group())
        for length in range(len(reference) - 1, 1, -1):
            if reference[:length] in html5:
                following = reference[length]
                if following == "=" or (following.isascii() and following.isalnum()):
                    return match.group()
                return html5[reference[:length]] + reference[length:]
        return match.group()

    return _CHARREF.sub(replace, value)


def _pixel(url: str) -> str:
    return (
        f'<img src="{html.escape(url)}" width="1" height="1" alt="" '
        'style="border:0;width:1px;height:1px;">'
    )
