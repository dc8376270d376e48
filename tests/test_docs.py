"""The documentation stays true: every ``certwatch …`` command shown in
README.md and docs/*.md is a real command path with real options, every
command is shown somewhere, every setting in docs/settings.md exists in
crawler/settings.py (and every CERTWATCH_* one there is documented), links
point at files that exist, README stays short, and Scrapy's own entry
points keep working from the repository root."""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DOCS = Path(ROOT) / "docs"
README = Path(ROOT) / "README.md"
SETTINGS_PY = Path(ROOT) / "crawler" / "settings.py"
# Pages other work adds later; docs/index.md lists them marked as being written.
PENDING_MARK = "（编写中）"


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---- commands shown in the documentation

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`((?:\S*/)?certwatch(?: [^`\n]*)?)`")
SEPARATORS = {"|", "||", "&&", ";", ">", "<", "2>"}


def _after_certwatch(tokens: list[str]) -> list[list[str]]:
    """The argument lists of every `certwatch` (or `.venv/bin/certwatch`) in a
    shell token list, each up to the next pipe, `&&` or redirection."""
    found = []
    for i, tok in enumerate(tokens):
        if tok.rsplit("/", 1)[-1] == "certwatch" and (i == 0 or tokens[i - 1] in SEPARATORS):
            args = []
            for t in tokens[i + 1:]:
                if t in SEPARATORS:
                    break
                args.append(t)
            found.append(args)
    return found


def _split(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:                       # an unbalanced quote in prose
        return line.split()


def shown_commands() -> list[tuple[str, list[str]]]:
    """(where, args) for every certwatch command in README.md and docs/*.md:
    lines of fenced blocks (backslash continuations joined) and inline code."""
    out = []
    for page in _pages():
        text = _text(page)
        for block in FENCE.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                for args in _after_certwatch(_split(line)):
                    out.append((f"{page.name}: {line.strip()}", args))
        prose = FENCE.sub("", text)
        for span in INLINE.findall(prose):
            for args in _after_certwatch(_split(span)):
                out.append((f"{page.name}: `{span}`", args))
    return out


def _subparsers(parser: argparse.ArgumentParser):
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def resolve(parser: argparse.ArgumentParser, args: list[str]) -> tuple[list[str], argparse.ArgumentParser, list[str]]:
    """Walk ``args`` down the sub-commands: (command path, its parser,
    problems). Options must belong to the parser they end up in."""
    path, problems = [], []
    positional = [a for a in args if not a.startswith("-")]
    for word in positional:
        sub = _subparsers(parser)
        if sub is None:
            break
        if word not in sub.choices:             # a command group takes no positional of its own
            problems.append(f"没有命令 {' '.join([*path, word])}")
            break
        path.append(word)
        parser = sub.choices[word]
    options = parser._option_string_actions
    for a in args:
        if a.startswith("--"):
            name = a.split("=", 1)[0]
            if name not in options:
                problems.append(f"certwatch {' '.join(path)} 没有选项 {name}")
    return path, parser, problems


def _parser():
    from crawler.cli.main import build_parser
    return build_parser()


def _leaf_paths(parser, prefix=()) -> list[tuple[str, ...]]:
    sub = _subparsers(parser)
    if sub is None:
        return [prefix]
    out = []
    for name, child in sub.choices.items():
        out += _leaf_paths(child, (*prefix, name))
    return out


def test_every_command_shown_resolves_and_its_help_parses(capsys):
    parser = _parser()
    shown = shown_commands()
    assert len(shown) >= 80, f"文档中的命令太少（{len(shown)}），提取规则可能失效"
    wrong, paths = [], set()
    for where, args in shown:
        path, _, problems = resolve(parser, args)
        wrong += [f"{where} → {p}" for p in problems]
        paths.add(tuple(path))
    assert not wrong, "文档中的命令与程序不符：\n" + "\n".join(wrong)
    for path in sorted(paths):                  # each path's --help parses (in-process: fast)
        try:
            parser.parse_args([*path, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, f"certwatch {' '.join(path)} --help 退出码 {exc.code}"
    helps = capsys.readouterr().out
    english = [w for w in ("usage:", "options:", "show this help message", "positional arguments") if w in helps]
    assert not english and "用法：" in helps, f"帮助中有 argparse 的英文：{english}"
    # Headings end with a Chinese colon; sub-commands are listed under 命令/子命令, not 位置参数 + a line "命令".
    assert not re.search(r"(?m)^\S[^\n]*:$", helps) and "位置参数" not in helps
    assert "命令：\n    sandbox" in helps and not re.search(r"(?m)^  (命令|子命令)$", helps)
    with pytest.raises(SystemExit):
        parser.parse_args(["schedule", "--help"])
    assert "子命令：\n    add " in capsys.readouterr().out


def test_every_command_is_shown_somewhere():
    parser = _parser()
    shown = {tuple(resolve(parser, args)[0]) for _, args in shown_commands()}
    missing = [" ".join(p) for p in _leaf_paths(parser) if p not in shown]
    assert not missing, f"README.md 和 docs/ 中没有出现这些命令：{missing}"


def test_the_installed_console_script_lists_the_documented_commands():
    """The way users run it: the `certwatch` script of this environment."""
    script = Path(sys.executable).parent / "certwatch"
    assert script.exists(), f"{script} 不存在：请先 pip install -e ."
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    listed = set(re.findall(r"^    (\S+)", out.stdout, re.M))
    assert out.stdout.count("命令：\n    sandbox") == 1 and "位置参数" not in out.stdout
    shown = {args[0] for _, args in shown_commands() if args and not args[0].startswith("-")}
    assert shown <= listed, f"文档中有、certwatch --help 中没有：{sorted(shown - listed)}"
    bad = subprocess.run([str(script), "sweep", "--pages", "x"], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert bad.returncode == 2 and "错误：参数 --pages：无效的整数值：'x'" in bad.stderr, bad.stderr
    assert "usage:" not in bad.stderr and "error:" not in bad.stderr


def test_resolve_catches_a_wrong_command_and_a_wrong_option():
    parser = _parser()
    assert resolve(parser, ["keywords", "import", "a.xlsx", "--user", "x"])[2] == []
    assert resolve(parser, ["sweep", "--real", "--platforms=a"])[2] == []
    assert resolve(parser, ["keywords", "frobnicate"])[2]
    assert resolve(parser, ["sweepx"])[2]
    assert resolve(parser, ["sweep", "--no-such-option"])[2]
    assert _after_certwatch(_split("echo '{\"a\": 1}' | .venv/bin/certwatch classify - # note")) == [["classify", "-"]]


# ---- settings

def _documented_settings() -> tuple[set[str], set[str]]:
    """(setting names in the first column, environment variables in the
    second) of every table in docs/settings.md."""
    names, env = set(), set()
    for line in _text(DOCS / "settings.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]))
        env |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))
    return names, env


def _settings_source() -> tuple[set[str], set[str]]:
    text = _text(SETTINGS_PY)
    return (set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*=", text, re.M)),
            set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z0-9_]+)["']""", text)))


def test_every_documented_setting_exists():
    import crawler.settings as module
    names, env = _documented_settings()
    assert len(names) >= 40, names
    assert not [n for n in names if not hasattr(module, n)], \
        f"docs/settings.md 中有、crawler/settings.py 中没有：{sorted(n for n in names if not hasattr(module, n))}"
    _, read = _settings_source()
    assert env == read, (f"docs/settings.md 的环境变量列与 crawler/settings.py 读取的不一致："
                         f"多写了 {sorted(env - read)}，漏写了 {sorted(read - env)}")


def test_every_certwatch_setting_is_documented():
    names, _ = _documented_settings()
    assigned, read = _settings_source()
    ours = {n for n in assigned | read if n.startswith("CERTWATCH_")}
    documented = names | _documented_settings()[1]
    missing = sorted(ours - documented)
    assert not missing, f"docs/settings.md 未说明这些设置：{missing}"


# ---- pages and links

LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation
    dropped, spaces as hyphens; Chinese kept). Fenced code is not headings."""
    text = FENCE.sub("", _text(path))
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in HEADING.findall(text)}


def test_readme_is_short_and_shows_the_two_commands():
    text = _text(README)
    assert len(text.encode("utf-8")) < 10_000, f"README.md 有 {len(text.encode('utf-8'))} 字节，应少于 10,000"
    assert "make demo" in text and "make test" in text
    assert ".venv/bin/activate" in text and ".venv/bin/certwatch" in text


def test_links_point_at_files_and_index_lists_every_page():
    broken = []
    for page in _pages():
        for line in _text(page).splitlines():
            for target, anchor in LINK.findall(line):
                if "://" in target:
                    continue
                file = page.parent / target if target else page
                exists = file.exists()
                if page.name == "index.md" and PENDING_MARK in line:
                    if exists:
                        broken.append(f"{page.name}: {target} 已经写好，请去掉“{PENDING_MARK}”")
                elif not exists:
                    broken.append(f"{page.name}: {target} 不存在")
                elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                    broken.append(f"{page.name}: {target}#{anchor} 没有这个标题")
    assert not broken, "\n".join(broken)
    index = _text(DOCS / "index.md")
    unlisted = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"]({p.name})" not in index]
    assert not unlisted, f"docs/index.md 没有列出：{unlisted}"


# ---- Scrapy's own entry points

def test_scrapy_list_from_repository_root():
    out = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert {"search", "listings"} <= set(out.stdout.split())
