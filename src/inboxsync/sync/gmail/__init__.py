"""Gmail sync over the REST API: labels as folders, first sync, history passes. See docs/adr/0007-gmail.md."""
