"""inboxsync: a self-hosted email sync engine with a Nylas v3 compatible REST API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inboxsync")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
