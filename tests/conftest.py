"""Shared fixtures. Each real-server fixture lives in its own plugin module under tests/support/."""

pytest_plugins = [
    "tests.support.database",
    "tests.support.dovecot",
    "tests.support.smtp",
    "tests.support.corpus",
]
