"""Platform compliance (平台整改情况): for batches sent in a period, per
platform — requested, verified removed, still present N days after sending,
not yet decided, and the median time from sending to a recheck seeing the
listing gone (bounded below by the recheck schedule)."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from pipelines import store
from reports import labels
from reports.periods import Period, parse_utc

HEADERS = ["平台", "请求下架", "已下架", "超期仍在线", "待定/无法判断", "下架率", "下架中位用时(天)"]


@dataclass
class PlatformCompliance:
    platform: str
    requested: int = 0
    removed: int = 0
    still_present: int = 0          # still present at a check N or more days after sending
    undecided: int = 0
    hours: list | None = None

    @property
    def median_days(self) -> float | None:
        return round(statistics.median(self.hours) / 24, 1) if self.hours else None

    def row(self) -> list:
        rate = f"{100 * self.removed / self.requested:.0f}%" if self.requested else "-"
        median = self.median_days
        return [labels.platform_title(self.platform) if self.platform != "合计" else "合计", self.requested,
                self.removed, self.still_present, self.undecided, rate, "-" if median is None else median]


def compliance(db, period: Period, days: int = 7) -> list[PlatformCompliance]:
    """One entry per platform (sorted), then the total."""
    start, end = period.utc_range()
    per: dict[str, PlatformCompliance] = {}
    total = PlatformCompliance("合计", hours=[])
    for item in store.compliance_items(db, start, end):
        pc = per.setdefault(item["platform"], PlatformCompliance(item["platform"], hours=[]))
        sent = parse_utc(item["sent_at"])
        removed = parse_utc(item["removed_at"])
        late = [c for c in item["checks"] if c["result"] == "still_present"
                and parse_utc(c["checked_at"]) >= sent + timedelta(days=days)]
        for target in (pc, total):
            target.requested += 1
            if removed is not None:
                target.removed += 1
                target.hours.append((removed - sent).total_seconds() / 3600)
            elif late:
                target.still_present += 1
            else:
                target.undecided += 1
    out = [per[k] for k in sorted(per)]
    return out + [total]


def headers(days: int) -> list[str]:
    return [h if h != "超期仍在线" else f"发出{days}天后仍在线" for h in HEADERS]
