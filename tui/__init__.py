"""The terminal UI: a thin Textual app over the localctl engine."""
