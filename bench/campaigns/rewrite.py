"""Fault campaign: the tracking rewriter's link scanner against html5lib, a WHATWG tokenizer.

    .venv/bin/python -m bench.campaigns.rewrite                       # 20,000 generated documents
    .venv/bin/python -m bench.campaigns.rewrite --generated 0 --files '/usr/share/doc/**/*.html'

Each document is rewritten with click tracking alone (tests/support/html5links.py): the links the
rewriter hands to its callback must be the `<a>`/`<area>` links html5lib finds to track, in the
same order, and no byte outside a rewritten `href` value may change. Documents come from the
hypothesis strategy `HTML` (hostile pieces: comments, CDATA, raw text, `<template>`,
`<noscript>`, `<base>`, SVG and MathML, every attribute form and URL encoding) and from HTML files
given by glob patterns (real-world pages: manuals, generated API docs). Exit 0 when every
document agrees.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from tests.support.html5links import HTML, Comparison, compare


@dataclass
class Figures:
    documents: int = 0
    generated: int = 0
    files: int = 0
    megabytes: float = 0.0
    links_html5lib: int = 0
    links_rewriter: int = 0
    skipped: int = 0
    """Documents the rewriter left alone on purpose (an inline PGP block)."""
    different_links: list[str] = field(default_factory=list)
    changed_outside: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.documents > 0 and not self.different_links and not self.changed_outside

    def add(self, name: str, text: str, comparison: Comparison) -> None:
        self.documents += 1
        self.megabytes += len(text.encode("utf-8", "surrogatepass")) / 1e6
        if comparison.skipped:
            self.skipped += 1
            return
        self.links_html5lib += len(comparison.expected)
        self.links_rewriter += len(comparison.found)
        if comparison.found != comparison.expected:
            missing = [u for u in comparison.expected if u not in comparison.found]
            extra = [u for u in comparison.found if u not in comparison.expected]
            self.different_links.append(f"{name}: missing {missing[:3]}, extra {extra[:3]}")
        self.changed_outside += [f"{name}: {problem}" for problem in comparison.changed_outside]

    def render(self) -> str:
        return "\n".join(
            [
                f"documents            {self.documents} ({self.generated} generated, "
                f"{self.files} files, {self.megabytes:.1f} MB) in {self.seconds:.0f} s",
                f"links (html5lib)     {self.links_html5lib}",
                f"links (rewriter)     {self.links_rewriter}",
                f"left alone (PGP)     {self.skipped}",
                f"different links      {len(self.different_links)}",
                *(f"  {line}" for line in self.different_links[:10]),
                f"bytes changed beside {len(self.changed_outside)}",
                *(f"  {line}" for line in self.changed_outside[:10]),
                "PASS" if self.ok else "FAIL",
            ]
        )


def campaign(generated: int, patterns: list[str], seed: int = 0) -> Figures:
    figures = Figures()
    started = time.monotonic()
    if generated:

        @settings(
            max_examples=generated,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(HTML)
        def each(text: str) -> None:
            figures.generated += 1
            figures.add(f"generated {figures.generated}: {text!r}", text, compare(text))

        each()
    for pattern in patterns:
        for name in sorted(glob.glob(pattern, recursive=True)):
            if not Path(name).is_file():
                continue
            text = Path(name).read_bytes().decode("utf-8", "surrogateescape")
            figures.files += 1
            figures.add(name, text, compare(text))
    figures.seconds = time.monotonic() - started
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.campaigns.rewrite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--generated", type=int, default=20_000, help="generated documents")
    parser.add_argument(
        "--files", action="append", default=[], metavar="GLOB", help="HTML files (** recurses)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    figures = campaign(args.generated, args.files)
    print(json.dumps({**asdict(figures), "ok": figures.ok}) if args.json else figures.render())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
