"""How objects look on the wire: dict builders (hot path), documentation schemas, parameter parsing."""
