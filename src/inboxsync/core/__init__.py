"""Plain typed values shared by every layer (no I/O, no imports from other inboxsync layers)."""
