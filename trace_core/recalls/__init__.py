"""Recalls and field actions (QMS-14) and the supplied-by / supplied-to report (MDR-01)."""
