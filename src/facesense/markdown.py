"""Text put into the Markdown tables of reports."""

from __future__ import annotations


def cell(value) -> str:
    """`value` as one table cell: a '|' in a group value or a run's name ('EU|US') split the row
    into one cell too many, and every figure after it sat under the wrong heading; a line break
    ended the row. A class folder named '*e*' was shown in italics, and '<i>' was read as HTML:
    those marks are escaped too ('_' is left, as names like emotion_model_3 are not emphasis)."""
    text = str(value).replace("\\", "\\\\")  # a backslash first: 'a\\|b' stays one cell
    for mark in "|*`<>":
        text = text.replace(mark, "\\" + mark)
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
