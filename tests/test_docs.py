"""Every command and every setting is documented in README (and Scrapy's
own entry points keep working from the repository root)."""
import re
import subprocess
import sys

from helpers import ROOT

# README and the feature pages under docs/ (the integrator links them from README).
README = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_cli_command_is_documented():
    from crawler.cli.main import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [name for name in sub.choices if f"certwatch {name}" not in README]
    assert not missing, f"README 未说明这些命令：{missing}"


def test_every_certwatch_setting_is_documented():
    settings = (ROOT / "crawler/settings.py").read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"^(CERTWATCH_[A-Z_]+)\s*=", settings, re.M)))
    missing = [n for n in names if n not in README]
    assert not missing, f"README 未说明这些设置：{missing}"


def test_scrapy_list_from_repository_root():
    out = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert {"search", "listings"} <= set(out.stdout.split())


def test_readme_quick_start_shows_the_two_commands():
    assert "make demo" in README and "make test" in README
