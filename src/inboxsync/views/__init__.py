"""Objects as the API serves them (and webhooks and the change stream carry them)."""
