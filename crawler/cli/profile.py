"""``certwatch profile check FILE`` and ``certwatch profile try FILE --page
saved.html``: a user tests a platform profile before trusting it — the
schema, the selectors and the hosts, then what each selector extracts from
a page saved from the platform (thin over pipelines.profiles and
pipelines.platform_pages, the functions the sweep uses)."""
from __future__ import annotations

from urllib.parse import urljoin

from crawler.cli.common import CliError, sub_command

KIND_CN = {"search_engine": "搜索引擎", "marketplace": "电商/B2B", "classifieds": "分类信息", "forum": "论坛/社区"}
FIELD_CN = {"title": "标题", "text": "正文", "seller": "发布者", "price": "价格"}
MAX_SHOWN = 300


def _load(path: str):
    from pipelines.profiles import ProfileError, load_file
    try:
        return load_file(path)
    except ProfileError as exc:
        raise CliError(str(exc)) from None


def _short(text: str, n: int = MAX_SHOWN) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + f"…（共 {len(text)} 字）"


def cmd_check(args) -> int:
    from pipelines.profiles import load_profiles
    p = _load(args.file)
    print(f"平台配置 {args.file}：格式正确")
    print(f"  名称：{p.name}（{p.title}），类型：{KIND_CN.get(p.kind, p.kind)}，"
          f"{'沙箱平台' if p.sandbox else '真实平台'}")
    print(f"  主机：{'、'.join(p.hosts)}")
    query = p.canary or "电工证"
    print(f"  搜索网址示例（查询“{query}”）：{p.search_url(query, p.first_page)}")
    if p.format == "json":
        print(f"  接口：JSON；条目 {p.search.get('items') or '（整个文档）'}，链接字段 {p.search['result']}")
    else:
        results = p.search["result"] if isinstance(p.search["result"], list) else [p.search["result"]]
        print(f"  结果选择器：{'；'.join(results)}（已编译）")
    nxt = ("Link 响应头" if p.format == "json" else
           f"{p.search['next_page']}" + (f"（文字含“{p.search['next_text']}”）" if p.search.get("next_text") else "")
           if p.search.get("next_page") else f"页码参数每页加 {p.step}" if p.step else "无（只取第一页）")
    print(f"  下一页：{nxt}；最多 {p.max_pages} 页")
    if p.detail:
        print("  详情字段：" + "；".join(f"{FIELD_CN.get(k, k)} {v}" for k, v in p.detail.items() if k in FIELD_CN))
    delay = p.politeness.get("delay")
    print(f"  礼貌访问：间隔 {delay if delay is not None else '默认'} 秒，并发 {p.politeness.get('concurrency', '默认')}，"
          f"robots.txt {'遵守' if (p.robots or ('ignore' if p.sandbox else 'obey')) == 'obey' else '不遵守'}"
          + (f"，代理 {p.politeness['proxy']}" if p.politeness.get("proxy") else ""))
    print(f"  探测查询：{p.canary or '（未设置：无法发现页面结构改版）'}")
    if not p.blocked:
        print("  注意：没有 blocked（拦截）标记，只能靠通用信号和探测查询发现拦截")
    if p.kind != "search_engine" and not p.removed:
        print("  注意：没有 removed（删除）标记，复查只认 404/410")
    shipped = load_profiles()
    if p.name in shipped and shipped[p.name].source != p.source:
        print(f"  注意：与内置平台 {p.name} 同名，用 --profiles 加载时会替换内置配置")
    return 0


def _read_page(path: str, profile) -> tuple[str, str]:
    from w3lib.encoding import html_to_unicode
    try:
        with open(path, "rb") as fh:
            data = fh.read(8 * 1024 * 1024)
    except OSError as exc:
        raise CliError(f"无法读取页面文件 {path}：{exc.strerror or exc}") from None
    if profile.format == "json":
        try:
            return "utf-8", data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CliError(f"{path} 不是 UTF-8 编码的 JSON") from None
    # The page's own <meta charset> (or BOM) decides; the profile's encoding is the fallback.
    return html_to_unicode(None, data, default_encoding=profile.encoding)


def cmd_try(args) -> int:
    from parsel import Selector

    from pipelines import platform_pages as pages
    p = _load(args.file)
    kind = args.kind or "search"
    encoding, text = _read_page(args.page, p)
    search = p.search_url(p.canary or "电工证", p.first_page)
    # A detail page's links resolve against the platform's own scheme and host
    # (its search URL's), not an https the platform may not serve.
    base = args.url or (search if kind == "search" else urljoin(search, "/"))
    print(f"平台 {p.name}（{p.title}）；页面 {args.page}（{encoding}，{len(text)} 字）；按{'搜索结果页' if kind == 'search' else '详情页'}解析；"
          f"相对链接以 {base} 为准")
    found_any = False
    if p.format == "json":
        data = pages.load_json(text)
        if data is None:
            raise CliError(f"{args.page} 不是有效的 JSON")
        items = pages.json_items(p, data) if kind == "search" else pages.json_comments(p, data)
        print(f"条目：{len(items)} 条")
        for n, item in enumerate(items, 1):
            print(f"  {n}. 链接 {item['url']}")
            for key in ("title", "text", "seller"):
                if item.get(key):
                    print(f"     {FIELD_CN[key]}：{_short(item[key], 120)}")
            if item.get("comments_url"):
                print(f"     评论接口：{item['comments_url']}")
        found_any = bool(items)
    else:
        try:
            sel = Selector(text=text)
        except Exception as exc:  # lxml refuses some documents outright
            raise CliError(f"页面无法解析：{exc}") from None
        if kind == "search":
            links = pages.result_links(p, sel, base)
            print(f"结果链接（search.result）：{len(links)} 条")
            for n, link in enumerate(links, 1):
                print(f"  {n}. {link}")
            nxt = pages.next_link(p, sel, base) if p.search.get("next_page") else None
            print(f"下一页（search.next_page）：{nxt or '没有找到'}")
            found_any = bool(links)
        else:
            fields = pages.detail_fields(p, sel)
            for key, label in FIELD_CN.items():
                css = p.detail.get(key)
                if css:
                    print(f"{label}（detail.{key}）：{_short(fields[key]) or '（空）'}")
            found_any = bool(fields["title"] or fields["text"])
    blocked = [m for m in p.blocked.get("markers", []) if m in text]
    removed = [m for m in p.removed.get("markers", []) if m in text]
    print(f"拦截标记（blocked.markers）：{'发现 ' + '、'.join(blocked) if blocked else '未发现'}")
    if p.removed.get("markers"):
        print(f"删除标记（removed.markers）：{'发现 ' + '、'.join(removed) if removed else '未发现'}")
    if not found_any:
        print("没有提取到内容：请检查选择器是否与保存的页面一致（或页面需要浏览器渲染：render: browser）")
        return 1
    return 0


def register(add) -> None:
    p = add("profile", "平台配置：检查配置文件、用保存的页面试用选择器", lambda a: p.print_help() or 2,
            "certwatch profile check myplatform.yaml")
    sub = p.add_subparsers(dest="profile_command", metavar="子命令")
    s = sub_command(sub, "check", "检查平台配置文件：格式、选择器能否编译、主机名、搜索网址", cmd_check,
                    "certwatch profile check profiles/myforum.yaml")
    s.add_argument("file", help="平台配置文件（YAML）")
    s = sub_command(sub, "try", "用从平台保存下来的页面试用平台配置，打印每个选择器提取到的内容", cmd_try,
                    "certwatch profile try profiles/myforum.yaml --page saved.html --kind search")
    s.add_argument("file", help="平台配置文件（YAML）")
    s.add_argument("--page", required=True, help="保存的页面（浏览器“另存为”的 HTML，或接口返回的 JSON）")
    s.add_argument("--kind", choices=("search", "detail"), default="search",
                   help="search：搜索结果页（默认）；detail：详情页")
    s.add_argument("--url", help="页面原来的网址（用于补全相对链接；默认按配置推算）")
