"""Screens of the localctl TUI: one per area, plus modals."""
