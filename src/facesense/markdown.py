"""Text put into the Markdown tables of reports."""

from __future__ import annotations


def cell(value) -> str:
    """`value` as one table cell: a '|' in a group value or a run's name ('EU|US') split the row
    into one cell too many, and every figure after it sat under the wrong heading; a line break
    ended the row."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")  # a backslash first: 'a\\|b' stays one cell
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
