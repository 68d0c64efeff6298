"""How a parallel run (pytest-xdist, as `scripts/test` runs the suite) deals tests to workers.

Each test goes to whichever worker is free, as with xdist's `--dist load`, but the browser tests
all go to one worker: they share one `ses-gateway serve --dev` and one Chromium (package and
module fixtures) that take longer to start than most of their tests take to run, and a worker
that got one browser test would start its own. (xdist's `xdist_group` marker would say the same,
but pytest 9 no longer lets xdist rename a test, which is how that marker works.)
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

TOGETHER = ("tests/browser/",)
"""Test paths whose tests run on one worker, one such path per worker."""


class BrowserTestsTogether(LoadScopeScheduling):
    """`--dist load`, except that the tests under each of `TOGETHER` form one unit of work."""

    def _split_scope(self, nodeid: str) -> str:
        return next((path for path in TOGETHER if nodeid.startswith(path)), nodeid)
