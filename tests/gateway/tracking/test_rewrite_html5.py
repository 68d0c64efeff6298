"""The rewriter's own HTML scanner against html5lib, a WHATWG tokenizer (tests/support/html5links):
on generated hostile HTML and on the HTML parts of the corpus, the same links are found, and no
byte outside a rewritten `href` changes. `python -m bench.campaigns.rewrite` runs the same check at
length, over real-world HTML files too."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from tests.support.html5links import HTML, compare

CORPUS = Path(__file__).parents[2] / "data" / "tracking"


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(HTML)
@example('<svg><![CDATA[ > <a href="https://x.example/"> ]]></svg><a href=https://y.example/>')
@example("<template><a href='https://t.example/'>t</a></template><noscript><a href=https://n/>")
@example('<a href="https&#58;//x.example/">x</a><a href=https&colon;//y.example/>y</a>')
def test_generated_html_links_as_html5lib_finds_them(html_text: str) -> None:
    comparison = compare(html_text)
    assert comparison.changed_outside == []
    assert comparison.found == comparison.expected


def corpus_html() -> list[tuple[str, str]]:
    found = []
    for path in sorted(CORPUS.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for number, part in enumerate(parsed.walk()):
            if part.get_content_type() == "text/html":
                found.append((f"{path.stem}-{number}", str(part.get_content())))
    return found


@pytest.mark.parametrize(("name", "html_text"), corpus_html(), ids=lambda v: str(v)[:30])
def test_corpus_html_links_as_html5lib_finds_them(name: str, html_text: str) -> None:
    comparison = compare(html_text)
    if comparison.skipped:  # left alone on purpose (inline PGP): nothing tracked, nothing changed
        assert (comparison.found, comparison.changed_outside) == ([], []), (name, comparison)
    else:
        assert comparison.same, (name, comparison)
