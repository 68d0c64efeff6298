"""A campaign message's visible unsubscribe link: before the HTML's last `</body>`, in any
case, or at its end without one."""

from __future__ import annotations

import pytest

from gateway.campaigns.message import _html_footer

URL = "https://mail.example.test/u/T"
LINK = (
    '<p style="font-size:12px;color:#666666">'
    f'<a href="{URL}" data-ses-gateway-notrack>Unsubscribe</a></p>'
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>Hi</p>", f"<p>Hi</p>{LINK}"),
        ("<body><p>Hi</p></body></html>", f"<body><p>Hi</p>{LINK}</body></html>"),
        ("<BODY><p>Hi</p></Body>\n</HTML>", f"<BODY><p>Hi</p>{LINK}</Body>\n</HTML>"),
        ("<p>a</body> b</p></body>", f"<p>a</body> b</p>{LINK}</body>"),
        # Lower-casing `İ` makes two characters: a place found in a lower-cased copy is off.
        ("<p>İstanbul İzmir</p></BODY>", f"<p>İstanbul İzmir</p>{LINK}</BODY>"),
        ("<p>a</b></p>", f"<p>a</b></p>{LINK}"),
    ],
)
def test_the_link_goes_before_the_last_closing_body_tag(body: str, expected: str) -> None:
    assert _html_footer(body, URL) == expected
