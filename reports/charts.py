"""PNG charts for a period (matplotlib, Agg backend, a CJK font):
flagged findings per week by platform, takedown requests vs verified
removals per week, fake government sites confirmed per week."""
from __future__ import annotations

import functools
import io
import os
import re
import threading
from collections import Counter
from datetime import date, timedelta

from pipelines import store
from reports import labels
from reports.periods import BEIJING, Period, parse_utc
from keywords.atomic import atomic_write

CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
CHARTS = {"flagged": "每周可疑信息（按平台）.png", "takedowns": "下架请求与复查确认下架.png",
          "fake_sites": "每周确认的假冒政府网站.png"}


_LOCK = threading.Lock()       # matplotlib's font cache and rcParams are shared state


@functools.cache
def _setup() -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import font_manager
    for path in CJK_FONTS:
        if os.path.exists(path):
            font_manager.fontManager.addfont(path)
            matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=path).get_name()
            break
    matplotlib.rcParams["axes.unicode_minus"] = False


def weeks(period: Period) -> list[date]:
    """Mondays of the weeks the period touches."""
    first = period.start - timedelta(days=period.start.weekday())
    out = []
    while first <= period.end:
        out.append(first)
        first += timedelta(days=7)
    return out


def week_of(stamp: str | None) -> date | None:
    moment = parse_utc(stamp)
    if moment is None:
        return None
    day = moment.astimezone(BEIJING).date()
    return day - timedelta(days=day.weekday())


# A stamp as now_utc() writes it: its Beijing week follows from its UTC hour
# (Beijing is UTC+8 all year), so series() works the week out once per hour.
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d\.\d{6}Z")


def _week_counter(stamps) -> Counter:
    """Counter of week_of(stamp) over ``stamps``."""
    hours: Counter = Counter()
    out: Counter = Counter()
    for stamp in stamps:
        if stamp and _CANONICAL.fullmatch(stamp):
            hours[stamp[:13]] += 1
        else:
            out[week_of(stamp)] += 1
    for hour, n in hours.items():
        out[week_of(hour + ":00:00.000000Z")] += n
    return out


def _week_counts(pairs) -> Counter:
    """Counter of weeks over (stamp or hour key, n) pairs: _week_counter of
    each stamp n times; a key of 13 characters is a UTC hour."""
    out: Counter = Counter()
    for key, n in pairs:
        out[week_of(key + ":00:00.000000Z" if key and len(key) == 13 else key)] += n
    return out


def series(db, period: Period, keys=None) -> dict:
    """The numbers behind the charts, per week (Monday, Beijing time). With
    ``keys`` (chart names), only what those charts draw is queried; the
    other entries are empty."""
    keys = set(CHARTS if keys is None else keys)
    start, end = period.utc_range()
    flagged: dict[str, Counter] = {}
    if "flagged" in keys:        # per platform and hour, kept by the store at write time
        for key, platform, n in store.flagged_hour_counts(db, start, end):
            week = week_of(key + ":00:00.000000Z" if len(key) == 13 else key)
            flagged.setdefault(labels.platform_title(platform), Counter())[week] += n
    requested, removed, sites = Counter(), Counter(), Counter()
    if "takedowns" in keys:
        requested = _week_counts(store.takedown_sent_counts(db, start, end))      # per batch
        removed = _week_counts(store.removed_hour_counts(db, start, end))         # per hour
    if "fake_sites" in keys:
        sites = _week_counter(r["at"] for r in store.stats_fake_sites(db, start, end))
    return {"weeks": weeks(period), "flagged": flagged, "requested": requested, "removed": removed,
            "fake_sites": sites}


def render(db, period: Period, out_dir: str) -> list[str]:
    """Write the three charts as PNG files into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    data = series(db, period)
    paths = []
    for key in CHARTS:
        path = os.path.join(out_dir, CHARTS[key])
        atomic_write(path, _draw(key, data, period))
        paths.append(path)
    return paths


_DRAWN: dict = {}      # (chart, period, its numbers) -> PNG: drawn again only when they change
_DRAWN_MAX = 64


def render_one(db, period: Period, key: str) -> bytes:
    """One chart as PNG bytes (the console serves these). The numbers are
    read each time (aggregates kept at write time); the picture is drawn
    only when they differ from the last drawing of that chart and period."""
    if key not in CHARTS:
        raise KeyError(key)
    data = series(db, period, (key,))
    cache_key = (key, period.start, period.end, period.label, repr(sorted(
        (k, sorted(v.items(), key=repr) if isinstance(v, dict) else v) for k, v in data.items())))
    with _LOCK:
        png = _DRAWN.get(cache_key)
    if png is None:
        png = _draw(key, data, period)
        with _LOCK:
            if len(_DRAWN) >= _DRAWN_MAX:
                _DRAWN.clear()
            _DRAWN[cache_key] = png
    return png


def _draw(key: str, data: dict, period: Period) -> bytes:
    with _LOCK:
        return _draw_locked(key, data, period)


def _draw_locked(key: str, data: dict, period: Period) -> bytes:
    fig = figure(key, data, period)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def figure(key: str, data: dict, period: Period):
    """The matplotlib Figure of one chart (``_draw`` holds the lock)."""
    from matplotlib.figure import Figure
    _setup()
    wk = data["weeks"]
    xlabels = [f"{d.month}/{d.day}" for d in wk]
    xs = list(range(len(wk)))
    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax = fig.subplots()
    if key == "flagged":
        bottom = [0] * len(wk)
        for name in sorted(data["flagged"]):
            counts = [data["flagged"][name].get(d, 0) for d in wk]
            ax.bar(xs, counts, bottom=bottom, label=name)
            bottom = [b + c for b, c in zip(bottom, counts)]
        _finish(ax, xs, xlabels, f"每周新发现的可疑信息（{period.label}）", "条", bool(data["flagged"]))
    elif key == "takedowns":
        width = 0.4
        ax.bar([x - width / 2 for x in xs], [data["requested"].get(d, 0) for d in wk], width, label="请求下架")
        ax.bar([x + width / 2 for x in xs], [data["removed"].get(d, 0) for d in wk], width, label="复查确认已下架")
        _finish(ax, xs, xlabels, f"下架请求与复查确认下架（按周，{period.label}）", "条", True)
    else:
        ax.bar(xs, [data["fake_sites"].get(d, 0) for d in wk], color="#c0392b", label="假冒政府网站")
        _finish(ax, xs, xlabels, f"每周确认的假冒政府网站（{period.label}）", "个", True)
    return fig


def _finish(ax, xs, xlabels, title, unit, legend):
    ax.set_title(title)
    ax.set_xticks(xs)
    ax.set_xticklabels(xlabels, rotation=45 if len(xs) > 12 else 0)
    ax.set_xlabel("周（周一日期）")
    ax.set_ylabel(unit)
    ax.yaxis.get_major_locator().set_params(integer=True)
    # Counts start at 0; with nothing to draw matplotlib would centre an
    # empty axis on 0 (-0.05 … 0.05) and show a negative tick.
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top if top >= 1 else 1)
    if legend:
        ax.legend(loc="upper left", fontsize="small")
