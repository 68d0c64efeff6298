"""HTML sanitised before it is stored: what could run goes, the layout and the variables stay."""

from __future__ import annotations

import pytest

from gateway.compose.sanitize import clean_html


@pytest.mark.parametrize(
    ("html", "clean"),
    [
        ("<p>x</p><script>alert(1)</script>", "<p>x</p>"),
        ('<img src="https://x.test/a.png" onerror="alert(1)">', '<img src="https://x.test/a.png">'),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ("<iframe src=https://x.test></iframe><form><input></form>", ""),
        ('<p style="color: red; position: fixed">x</p>', '<p style="color:red">x</p>'),
        ("<!-- note --><p>x</p>", "<p>x</p>"),
        (
            "<!doctype html><html><head><title>T</title><style>p{}</style></head>"
            '<body style="margin:0"><p>y</p></body></html>',
            "<p>y</p>",
        ),
        (
            '<p>Hi {{name | default("there")}}</p><a href="https://x.test/?n={{name}}">y</a>',
            '<p>Hi {{name | default("there")}}</p><a href="https://x.test/?n={{name}}">y</a>',
        ),
        (
            '<table width="600" cellpadding="4"><tr><td align="center">x</td></tr></table>',
            '<table width="600" cellpadding="4"><tbody><tr><td align="center">x</td></tr>'
            "</tbody></table>",
        ),
    ],
)
def test_html_is_sanitised(html: str, clean: str) -> None:
    assert clean_html(html) == clean
