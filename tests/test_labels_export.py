"""Reviewers' decisions become labelled data: `certwatch labels` writes
confirmed findings as label 1 and dismissed ones as label 0, in the format
`evaluate sales` and `train sales` read."""
from __future__ import annotations

import json

from helpers import run_cli
from pipelines import store


def _seed(db) -> dict:
    recs = store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou", "title": title, "text": text,
         "flagged": True, "family": "tezhong"} for n, title, text in [
            (1, "代办焊工证", "焊工证不用考试，人不到场，包过，微信 zb8888"),
            (2, "焊工培训招生", "正规培训学校，考试合格后颁发证书，欢迎报名"),
            (3, "电工证", "电工证加急办理，三天下证"),
            (4, "未审核", "代办电工证")]], None)
    ids = {n + 1: r.id for n, r in enumerate(recs)}
    store.add_decision(db, "审核员甲", "confirm", finding_id=ids[1])
    store.add_decision(db, "审核员甲", "confirm", finding_id=ids[2])
    store.add_decision(db, "审核员乙", "dismiss", note="正规培训机构", finding_id=ids[2])   # the last decision counts
    store.add_decision(db, "审核员甲", "confirm", finding_id=ids[3])
    store.add_decision(db, "审核员甲", "refer", finding_id=ids[3])
    return ids


def test_reviewed_findings_are_labelled_by_their_last_decision(fresh_db):
    ids = _seed(fresh_db)
    rows = {r["id"]: r for r in store.reviewed_findings(fresh_db)}
    assert {k: rows[ids[k]]["label"] for k in (1, 2, 3)} == {1: 1, 2: 0, 3: 1}
    assert ids[4] not in rows                                  # never decided: not labelled
    assert store.reviewed_findings(fresh_db, since="2999-01-01T00:00:00Z") == []


def test_labels_command_feeds_evaluate(fresh_db, db_path, tmp_path):
    _seed(fresh_db)
    out = tmp_path / "审核标注.jsonl"
    proc = run_cli("labels", "--db", db_path, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "确认 2 条" in proc.stderr and "排除 1 条" in proc.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["title"], x["label"]) for x in lines] == [("代办焊工证", 1), ("焊工培训招生", 0), ("电工证", 1)]
    assert lines[1]["decision"] == "排除误报" and lines[1]["reviewer"] == "审核员乙"
    assert lines[0]["category"] == "工友论坛"              # per-platform accuracy in evaluate
    proc = run_cli("evaluate", "sales", out)
    assert proc.returncode == 0, proc.stderr
    assert "工友论坛" in proc.stdout and "精确率" in proc.stdout


def test_labels_command_bad_input(fresh_db, db_path, tmp_path):
    _seed(fresh_db)
    proc = run_cli("labels", "--db", db_path, "--since", "去年")
    assert proc.returncode == 2 and "日期格式" in proc.stderr
    proc = run_cli("labels", "--db", db_path, "--out", tmp_path / "no" / "such" / "dir.jsonl")
    assert proc.returncode == 2 and "无法写入" in proc.stderr
    proc = run_cli("labels", "--db", db_path, "--since", "2999-01-01")
    assert proc.returncode == 0 and proc.stdout == "" and "0 条" in proc.stderr
