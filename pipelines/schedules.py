"""Schedule definitions: cron slots in Asia/Shanghai, validated schedule
rows, and how runs are shown. Plain functions shared by the scheduler
(crawler/scheduler.py, which runs them) and the console's schedule pages;
they read and write schedules only through the store."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError

from pipelines import store
from pipelines.switches import truthy

TZ = ZoneInfo("Asia/Shanghai")
RUN_STATUS_CN = {"pending": "等待执行", "running": "执行中", "finished": "完成", "failed": "失败",
                 "interrupted": "已中断", "cancelled": "已取消", "skipped": "已跳过"}
EVIDENCE_STATUS_CN = {"running": "取证中", "finished": "完成", "failed": "失败", "interrupted": "已中断",
                      "off": "未开启"}


class ScheduleError(ValueError):
    """A schedule value that cannot be used (Chinese message)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """ISO time; without a zone it is Beijing time (Asia/Shanghai)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(f"无法识别的时间：{text}（示例 2026-12-01T02:00 或 2026-12-01T02:00+08:00）") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TZ)
    return dt.astimezone(timezone.utc)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def check_cron(expr: str) -> str:
    expr = " ".join((expr or "").split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ScheduleError(f"cron 表达式无效：{expr!r}（5 段：分 时 日 月 周，如 \"0 2 * * *\"）")
    next_after(expr, utc_now())        # a date that never comes (0 0 31 2 *) is an error now, not at run time
    return expr


def _never(expr: str) -> ScheduleError:
    return ScheduleError(f"cron 表达式 {expr!r} 永远不会触发（日期不存在，如 2 月 31 日），请检查日和月")


def next_after(expr: str, after: datetime) -> datetime:
    """The first cron slot strictly after ``after``, in Asia/Shanghai."""
    try:
        return croniter(expr, after.astimezone(TZ)).get_next(datetime).astimezone(timezone.utc)
    except CroniterBadDateError:
        raise _never(expr) from None


def next_times(expr: str, after: datetime, n: int = 5) -> list[datetime]:
    it = croniter(expr, after.astimezone(TZ))
    try:
        return [it.get_next(datetime).astimezone(timezone.utc) for _ in range(n)]
    except CroniterBadDateError:
        raise _never(expr) from None


def schedule_platforms(schedule: dict) -> list[str]:
    return [p for p in (schedule.get("platforms") or "").split(",") if p]


def check_platforms(platforms: str, profiles_dir: str = "") -> str:
    """The comma list of platforms, each one a profile's name (else a ScheduleError)."""
    from pipelines.profiles import ProfileError, load_profiles, unknown_platforms
    try:
        profiles = load_profiles(profiles_dir or None)
    except ProfileError as exc:
        raise ScheduleError(str(exc)) from None
    unknown = unknown_platforms(profiles, platforms or "")
    if unknown:
        raise ScheduleError(f"未知平台：{'、'.join(unknown)}（可用：{'、'.join(sorted(profiles))}）")
    return ",".join(p.strip() for p in (platforms or "").split(",") if p.strip())


def add_schedule(db, name: str, cron: str, now: datetime, industry: str = "", department: str = "",
                 platforms: str = "", pages: int = 0, variants: bool = False,
                 settings: dict | None = None, profiles_dir: str = "") -> int:
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ScheduleError("计划名称不能为空，且不超过 60 个字")
    cron = check_cron(cron)
    if pages and not 0 < int(pages) <= 100:
        raise ScheduleError("--pages 应为 1–100")
    platforms = check_platforms(platforms, profiles_dir)
    try:
        return store.add_schedule(db, {
            "name": name, "cron": cron, "industry": industry or "", "department": department or "",
            "platforms": platforms, "profiles": profiles_path(profiles_dir),
            "pages": int(pages or 0), "variants": 1 if variants else 0, "settings": settings or {},
            "next_run_at": iso(next_after(cron, now)),
        })
    except store.StoreError as exc:
        raise ScheduleError(str(exc)) from None


EVIDENCE_KEY = "CERTWATCH_SCHEDULE_EVIDENCE"      # the schedule setting (crawler/settings.py sets its default)


def evidence_choice(schedule: dict) -> bool | None:
    """A schedule's own 巡查后自动取证 switch (``--set``/``--no-evidence``), or
    None when it follows the scheduler's default."""
    own = schedule.get("settings") or {}
    if EVIDENCE_KEY not in own:
        return None
    return truthy(own[EVIDENCE_KEY])


def profiles_path(profiles_dir: str) -> str:
    """A schedule keeps its --profiles folder as an absolute path: the
    scheduler may run in another working directory."""
    return os.path.abspath(profiles_dir) if profiles_dir else ""


def schedule_profiles(schedule: dict | None, fallback: str = "") -> str:
    """The profiles folder a schedule's runs use: its own, else the scheduler's."""
    return ((schedule or {}).get("profiles") or "") or fallback


def edit_schedule(db, name: str, now: datetime, profiles_dir: str | None = None, **fields) -> dict:
    """``profiles_dir``: None keeps the schedule's folder, "" clears it, a
    path replaces it (and the platforms are checked against it)."""
    schedule = store.get_schedule(db, name)
    changes = {k: v for k, v in fields.items() if v is not None}
    if profiles_dir is not None:
        changes["profiles"] = profiles_path(profiles_dir)
        if "platforms" not in changes and schedule.get("platforms"):
            changes["platforms"] = schedule["platforms"]      # still known in the new folder?
    profiles_dir = changes.get("profiles", schedule.get("profiles") or "")
    if "cron" in changes:
        changes["cron"] = check_cron(changes["cron"])
        changes["next_run_at"] = iso(next_after(changes["cron"], now))
    if "platforms" in changes:
        changes["platforms"] = check_platforms(changes["platforms"], profiles_dir)
    if "enabled" in changes:
        changes["enabled"] = 1 if changes["enabled"] else 0
        if changes["enabled"] and not schedule["enabled"]:
            # Slots missed while disabled are not owed: start from now.
            changes["next_run_at"] = iso(next_after(changes.get("cron", schedule["cron"]), now))
    if "settings" in changes:
        # --set on edit adds or overrides single settings; the rest stay.
        changes["settings"] = {**(schedule.get("settings") or {}), **changes["settings"]}
    if "variants" in changes:
        changes["variants"] = 1 if changes["variants"] else 0
    store.update_schedule(db, schedule["id"], changes)
    return store.get_schedule(db, schedule_id=schedule["id"])


def evidence_summary(run: dict) -> str:
    """A run's evidence step in a few words (``schedule runs``)."""
    status = run.get("evidence_status") or ""
    if status == "finished":
        ok, failed = int(run.get("evidence_ok") or 0), int(run.get("evidence_failed") or 0)
        return "无需取证" if not ok and not failed else f"成功 {ok}，失败 {failed}"
    return EVIDENCE_STATUS_CN.get(status, status)


def recheck_summary(stats: dict) -> str:
    get = lambda k: int((stats or {}).get(k, 0) or 0)  # noqa: E731
    return (f"复查 {get('requests')} 条：已下架 {get('removed')}，仍在线 {get('still_present')}，"
            f"无法判断 {get('unknown')}")
