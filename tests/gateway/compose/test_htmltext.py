"""The text part made from the HTML: blocks on their own lines, links with their address,
lists with bullets, nothing of scripts or styles, variables kept."""

from __future__ import annotations

import pytest

from gateway.compose.htmltext import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo\n"),
        ("<div>a</div><div>b</div>", "a\nb\n"),
        ("<p>a<br>b</p>", "a\nb\n"),
        ("<p>  lots   of\n  space </p>", "lots of space\n"),
        (
            '<p>See <a href="https://x.test/a">the page</a>.</p>',
            "See the page (https://x.test/a).\n",
        ),
        ('<a href="mailto:a@x.test">write</a>', "write\n"),
        (
            "<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>",
            "- one\n- two\n\n1. a\n2. b\n",
        ),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", "a b\nc d\n"),
        ("<head><title>T</title><style>p{}</style></head><p>x</p><script>y()</script>", "x\n"),
        ('<img src="x.png" alt="Logo"><p>&amp; &lt;b&gt; caf&eacute;</p>', "Logo\n\n& <b> café\n"),
        ("<p>Hi {{name | default(&quot;there&quot;)}}</p>", 'Hi {{name | default("there")}}\n'),
        ("<pre>a\n  b</pre>", "a\nb\n"),
    ],
)
def test_html_reads_as_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
