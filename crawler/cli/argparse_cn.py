"""argparse's own words in Chinese: 用法、选项、its error messages.

argparse looks its texts up through the module-level ``_``/``ngettext``
(gettext) at call time; ``install()`` points them at this table, so
``certwatch --help`` and a mistyped argument read in Chinese like the rest of
the program. Texts not in the table stay as argparse writes them."""
from __future__ import annotations

import argparse
import re

TEXTS = {
    "usage: ": "用法：",
    "options": "选项",
    "positional arguments": "参数",
    "show this help message and exit": "显示本帮助并退出",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "invalid %(type)s value: %(value)r": "无效的%(type)s值：%(value)r",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选择：%(value)r（可选：%(choices)s）",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多一个值",
    "expected at least one argument": "至少需要一个值",
    "ambiguous option: %(option)s could match %(matches)s": "有歧义的选项：%(option)s 可以是 %(matches)s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "one of the arguments %s is required": "参数 %s 中必须给出一个",
    "ignored explicit argument %r": "忽略了多余的值 %r",
    "can't open '%(filename)s': %(error)s": "无法打开“%(filename)s”：%(error)s",
}
PLURALS = {"expected %s argument": "需要 %s 个值"}
# "invalid int value": the type's name as argparse passes it.
TYPES = {"int": "整数", "float": "数", "str": "文本"}


def _(text: str) -> str:
    return TEXTS.get(text, text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return PLURALS.get(singular, singular if n == 1 else plural)


def install() -> None:
    """Once per process, before parsers are built."""
    argparse._ = _
    argparse.ngettext = ngettext
    if not getattr(argparse.ArgumentParser._get_value, "_certwatch", False):
        original = argparse.ArgumentParser._get_value

        def _get_value(self, action, arg_string):
            try:
                return original(self, action, arg_string)
            except argparse.ArgumentError as exc:
                for en, cn in TYPES.items():
                    exc.message = exc.message.replace(f"无效的{en}值", f"无效的{cn}值")
                raise

        _get_value._certwatch = True
        argparse.ArgumentParser._get_value = _get_value
    if not getattr(argparse.ArgumentParser.format_help, "_certwatch", False):
        argparse.ArgumentParser.add_subparsers = _titled(argparse.ArgumentParser.add_subparsers)
        argparse.ArgumentParser.format_help = _chinese_headings(argparse.ArgumentParser.format_help)


def _titled(original):
    """Sub-commands get a section of their own, headed by their metavar
    (命令/子命令), instead of a "位置参数" section holding one line "命令"."""
    def add_subparsers(self, **kwargs):
        if "metavar" in kwargs and "title" not in kwargs:
            kwargs["title"] = kwargs["metavar"]
        return original(self, **kwargs)
    return add_subparsers


def _chinese_headings(original):
    """Section headings end with a Chinese colon (argparse adds ":" itself);
    a sub-command section does not repeat its heading as its first line."""
    def format_help(self):
        text = re.sub(r"(?m)^(\S[^\n]*):$", r"\1：", original(self))
        return re.sub(r"(?m)^(命令|子命令)：\n  \1\n", r"\1：\n", text)
    format_help._certwatch = True
    return format_help
