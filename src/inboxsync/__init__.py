"""inboxsync: a self-hosted email sync engine with a Nylas v3 compatible REST API."""

__version__ = "0.1.0"
