"""Spreadsheet-safe cells: scraped titles are attacker-written.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return (also after leading spaces, line breaks or zero-width characters) would be read as a formula (or shift one) by Excel / WPS / LibreOffice.
Such text gets a leading apostrophe, and is always written as a string —
openpyxl would otherwise store a text starting with ``=`` as a formula. So
does a text that is a spreadsheet error value (``#N/A``, ``#REF!`` …): a
spreadsheet (and openpyxl) would read it as an error, not as what was written.
"""
from __future__ import annotations

import csv
import re
from typing import Any, Iterable

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ERROR_VALUES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                          "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"))
# Leading characters a spreadsheet may skip before reading a formula: spaces
# (also full-width and no-break), line breaks, zero-width and BOM characters.
_INVISIBLE = " \t\r\n\u00a0\u3000\u200b\u200c\u200d\u2060\ufeff"
# Characters no spreadsheet cell may hold (openpyxl raises on them).
_ILLEGAL = {c: None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
_HAS_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]").search     # translate only when needed
MAX_CELL = 32_000


# A text whose first character is none of these can neither be read as a
# formula nor reach a dangerous one by skipping invisible characters.
_SUSPECT_FIRST = frozenset(DANGEROUS_PREFIXES) | frozenset(_INVISIBLE) | {"#"}


def neutralize(value: Any) -> Any:
    """Numbers and None pass; text is cleaned and defused."""
    if type(value) is str:          # nearly every cell: one type test, then the text's checks
        text = value
    elif value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    else:
        text = str(value)
    if _HAS_ILLEGAL(text):
        text = text.translate(_ILLEGAL)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL]
    if text[:1] in _SUSPECT_FIRST:
        bare = text.strip(_INVISIBLE)
        if text.startswith(DANGEROUS_PREFIXES) or bare.startswith(DANGEROUS_PREFIXES) \
                or bare.upper() in ERROR_VALUES:
            return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [neutralize(v) for v in values]


def append_row(ws, values: Iterable[Any]) -> None:
    """Append a row to an openpyxl worksheet. Neutralized text never starts
    with '=', so openpyxl stores every text cell as a string."""
    ws.append(safe_row(values))


def set_cell(ws, row: int, column: int, value: Any):
    cell = ws.cell(row=row, column=column, value=neutralize(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell


def write_csv(path: str, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    """UTF-8 with BOM (Excel opens it as UTF-8), every cell neutralized."""
    from keywords.atomic import atomic_file
    with atomic_file(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(safe_row(header))
        for row in rows:
            writer.writerow(["" if v is None else v for v in safe_row(row)])
