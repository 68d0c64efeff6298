"""The dev emulator on loopback, for the tests of what `serve --dev` answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.dev.emulator import Emulator, start_emulator


@pytest.fixture
def emulator(aws_env: pytest.MonkeyPatch) -> Iterator[Emulator]:
    aws_env.delenv("AWS_ENDPOINT_URL", raising=False)  # put back as it was afterwards
    started = start_emulator(verify_delay=3600)
    yield started
    started.stop()
