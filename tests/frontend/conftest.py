"""Frontend test hooks: the op table's coverage line at the end of the run."""

from __future__ import annotations

import pytest

from tests.support.op_runner import COVERAGE_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    for line in config.stash.get(COVERAGE_KEY, []):
        terminalreporter.write_line(line)
