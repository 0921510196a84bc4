"""Widgets of the localctl TUI; each one usable on its own in a harness app."""
