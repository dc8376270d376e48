"""The sweep's start-up data (docs/benchmarks.md, sweep): jieba's
frequencies from a compact file, pinyin readings without pypinyin's phrase
dictionary, no scrapy-playwright before a page renders; same words, same
cuts, same registry."""
from __future__ import annotations

import subprocess
import sys
import tempfile

import jieba

from pipelines import segment, usercache
from tests.helpers import ROOT


def test_frequencies_are_jiebas_own():
    ref = jieba.Tokenizer()
    ref.tmp_dir = tempfile.gettempdir()
    ref.initialize()
    table, total = segment.frequencies()
    assert total == ref.total and table.n == len(ref.FREQ)
    sample = list(ref.FREQ.items())[::25]                 # words and prefixes (frequency 0)
    assert all(table.get(word) == freq for word, freq in sample)
    assert table.get("不是一个词吗") is None and "不是一个词吗" not in table
    tk = segment.tokenizer()
    from keywords import default_keywords
    for word in {k["term"] for k in default_keywords()} | set(segment.INTENT_WORDS):
        ref.add_word(word, freq=20000)
    for text in ("面包过期了", "代考虑一下", "演出证在哪办", "电工证包过代考，加微信", "特种作业操作证网上可查"):
        assert tk.lcut(text, HMM=False) == ref.lcut(text, HMM=False)


def test_damaged_frequency_file_is_rebuilt(monkeypatch, tmp_path):
    name = segment._freq_name()
    good, total = segment.frequencies()
    data = open(usercache.path(name), "rb").read()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with open(usercache.path(name), "wb") as fh:          # cut short: not used, rebuilt, rewritten
        fh.write(data[:len(data) // 2])
    assert Frequencies_equal(segment.frequencies(), (good, total))
    assert open(usercache.path(name), "rb").read() == data


def Frequencies_equal(a, b) -> bool:
    return a[1] == b[1] and a[0].text == b[0].text and a[0].starts == b[0].starts and a[0].freqs == b[0].freqs


def test_classifier_and_registry_without_pypinyin_or_playwright():
    code = ("import sys\n"
            "from pipelines import lookalike, sales\n"
            "import crawler.browserhandler, crawler.spiders.base\n"
            "r = sales.classify('代办电工证，包过，威信 zb123456，官网可查 www.cxmem-gov.cn')\n"
            "lookalike.registry()\n"
            "print(r.flagged, sorted(m for m in sys.modules if m.split('.')[0] in ('pypinyin', 'scrapy_playwright')))\n")
    from pipelines import lookalike, normalize
    lookalike.registry(), normalize.tables()              # the reading files exist (this process made them)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert again.stdout.strip() == "True []", (again.stdout, again.stderr)


def test_no_spider_relies_on_offsite_filtering():
    """crawler/settings.py turns Scrapy's OffsiteMiddleware off: it filters by
    allowed_domains, which no spider may then set (it would be ignored)."""
    from scrapy.spiderloader import SpiderLoader

    from crawler.sweep import project_settings
    settings = project_settings()
    assert settings.getdict("DOWNLOADER_MIDDLEWARES")["scrapy.downloadermiddlewares.offsite.OffsiteMiddleware"] is None
    loader = SpiderLoader.from_settings(settings)
    assert loader.list() and not [n for n in loader.list() if getattr(loader.load(n), "allowed_domains", None)]


def test_shipped_yaml_reads_the_same_through_libyaml():
    """lightimport.yaml_load (libyaml's parser when PyYAML has it) gives the
    same document as yaml.safe_load for every YAML file certwatch ships."""
    import glob
    import os
    import yaml
    from keywords import lightimport
    files = [f for pattern in ("keywords/*.yaml", "pipelines/**/*.yaml", "crawler/**/*.yaml")
             for f in glob.glob(os.path.join(ROOT, pattern), recursive=True)]
    assert len(files) >= 10, files
    for path in files:
        with open(path, encoding="utf-8") as a, open(path, encoding="utf-8") as b:
            assert lightimport.yaml_load(a) == yaml.safe_load(b), path
    # hostile input still fails as YAML, and no Python object is built
    for bad in ("a: [1, 2", "!!python/object/apply:os.system ['true']"):
        try:
            lightimport.yaml_load(bad)
        except yaml.YAMLError:
            continue
        raise AssertionError(bad)
