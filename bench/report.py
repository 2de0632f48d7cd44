"""Tables that read well both in a terminal and in Markdown."""

from collections.abc import Container, Sequence


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Container[int] = ()) -> str:
    """A Markdown table padded to aligned columns; columns in ``right`` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(cell).rjust(width) if index in right else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        ("-" * (width - 1) + ":") if index in right else "-" * width for index, width in enumerate(widths)
    ]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])
