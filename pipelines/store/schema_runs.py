"""Later migrations: the search backlog, sweep runs and schedules (see
schema.py, which imports this module at its end so these register after its
own)."""
from __future__ import annotations

import sqlite_utils

from .schema import migrations


@migrations()
def m_speed_5_search_backfill(db: sqlite_utils.Database) -> None:
    """search_backfill: findings stored before findings_tri existed, indexed later (store.search.record_backlog)."""
    from .search import record_backlog
    record_backlog(db)


@migrations()
def m_trial_1_sweep_kind(db: sqlite_utils.Database) -> None:
    """sweeps.kind: what a run was — 'sweep' (a sweep of platforms, the one
    `health`, `workers` and the console mean by "the latest sweep"), 'sites'
    (`certwatch sites check`) or another spider's name (a plain `scrapy crawl`).
    Older site checks are known by their stats (sites/candidates) and older
    plain crawls by their one-spider platform list."""
    db["sweeps"].add_column("kind", str, not_null_default="sweep")
    db.execute("UPDATE sweeps SET kind = 'sites' WHERE stats LIKE '%\"sites/candidates\"%'"
               " OR platforms = '[\"sites\"]'")
    db.execute("UPDATE sweeps SET kind = 'recheck' WHERE platforms = '[\"recheck\"]'")
    db["sweeps"].create_index(["kind", "id"])


@migrations()
def m_trial_2_schedule_profiles(db: sqlite_utils.Database) -> None:
    """schedules.profiles: the platform profiles folder a schedule was added
    with (`schedule add --profiles`, an absolute path); its runs sweep and
    capture evidence with it."""
    db["schedules"].add_column("profiles", str, not_null_default="")

