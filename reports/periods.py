"""Reporting periods: date ranges in Beijing time, stored times in UTC.

The campaign reports every two months (Jan–Feb, Mar–Apr, …, Nov–Dec); the
default period is the one containing today. Any range is allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pipelines.store import BEIJING, beijing, parse_utc  # noqa: F401  (stored times: one owner)


class PeriodError(ValueError):
    """A period that cannot be parsed; the message is Chinese."""


@dataclass(frozen=True)
class Period:
    start: date          # first day, inclusive
    end: date            # last day, inclusive

    @property
    def key(self) -> tuple[str, str]:
        return self.start.isoformat(), self.end.isoformat()

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"

    def utc_range(self) -> tuple[str, str]:
        """[start, end) as stored UTC time strings."""
        lo = datetime.combine(self.start, datetime.min.time(), BEIJING)
        hi = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), BEIJING)
        return utc_text(lo), utc_text(hi)

    def title(self) -> str:
        """'2024年9-10月份工作情况统计表' (the template's '2024年 x月份…')."""
        s, e = self.start, self.end
        if s.year == e.year:
            months = f"{s.month}" if s.month == e.month else f"{s.month}-{e.month}"
            return f"{s.year}年{months}月份工作情况统计表"
        return f"{s.year}年{s.month}月-{e.year}年{e.month}月份工作情况统计表"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def today() -> date:
    return datetime.now(BEIJING).date()


def bimonthly(day: date | None = None) -> Period:
    """The two-month reporting period containing ``day`` (default today)."""
    day = day or today()
    first_month = day.month - (day.month - 1) % 2
    start = date(day.year, first_month, 1)
    nxt = date(day.year + (first_month + 2 > 12), (first_month + 1) % 12 + 1, 1)
    return Period(start, nxt - timedelta(days=1))


def _parse_day(text: str, end: bool) -> date:
    text = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
        if m:
            first = date(int(m[1]), int(m[2]), 1)
            if not end:
                return first
            nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            return nxt - timedelta(days=1)
    except ValueError:
        pass
    raise PeriodError(f"日期格式应为 YYYY-MM-DD 或 YYYY-MM，而不是 {text!r}")


def make_period(start: str | None = None, end: str | None = None, period: str | None = None) -> Period:
    """From --from/--to, or --period 'A..B' (days or months), or the default."""
    if period:
        parts = re.split(r"\.\.|~|至", period.strip())
        if len(parts) == 1:
            start, end = parts[0], parts[0]
        elif len(parts) == 2:
            start, end = parts
        else:
            raise PeriodError(f"期间格式应为 2024-09-01..2024-10-31 或 2024-09..2024-10，而不是 {period!r}")
    if not start and not end:
        return bimonthly()
    if not start or not end:
        raise PeriodError("请同时给出起止日期（命令行用 --from 与 --to）")
    p = Period(_parse_day(start, False), _parse_day(end, True))
    if p.end < p.start:
        raise PeriodError(f"结束日期 {p.end} 早于开始日期 {p.start}")
    if (p.end - p.start).days > 366 * 5:
        raise PeriodError("期间过长（超过五年）")
    return p
