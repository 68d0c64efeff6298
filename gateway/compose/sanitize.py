"""HTML that people paste, type or upload made safe to store, show and send: nh3 (the Python
binding of the Rust sanitiser ammonia) keeps the tags and attributes of an email's layout and
text, inline styles of a known set of properties, and links of web, mail and phone schemes;
scripts, event handlers, forms, frames and `<style>` elements go. `{{variables}}` are text to
it, kept in text and in attribute values alike."""

from __future__ import annotations

import nh3

TAGS = nh3.ALLOWED_TAGS | {"font"}
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "class", "dir", "lang", "title", "align", "valign", "width", "height"},
    "a": {"href", "hreflang", "name", "target"},
    "font": {"color", "face", "size"},
    "table": {"align", "bgcolor", "border", "cellpadding", "cellspacing", "summary", "width"},
    "td": {"align", "bgcolor", "colspan", "rowspan", "headers", "valign", "width"},
    "th": {"align", "bgcolor", "colspan", "rowspan", "headers", "scope", "valign", "width"},
    "tr": {"align", "bgcolor", "valign"},
}
STYLE_PROPERTIES = frozenset(
    [
        "background",
        "background-color",
        "border",
        "border-bottom",
        "border-collapse",
        "border-color",
        "border-left",
        "border-radius",
        "border-right",
        "border-spacing",
        "border-style",
        "border-top",
        "border-width",
        "color",
        "display",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "height",
        "letter-spacing",
        "line-height",
        "list-style-type",
        "margin",
        "margin-bottom",
        "margin-left",
        "margin-right",
        "margin-top",
        "max-width",
        "min-width",
        "padding",
        "padding-bottom",
        "padding-left",
        "padding-right",
        "padding-top",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "vertical-align",
        "white-space",
        "width",
        "word-break",
    ]
)
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def clean_html(source: str) -> str:
    """`source` with only what an email's HTML may hold."""
    return nh3.clean(
        source,
        tags=set(TAGS),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(STYLE_PROPERTIES),
        link_rel=None,
        strip_comments=True,
        clean_content_tags={"script", "style", "title"},
    )
