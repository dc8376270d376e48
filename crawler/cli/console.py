"""``certwatch serve``, ``certwatch user …`` and ``certwatch evidence …``:
the console, its accounts, and evidence capture/verification (thin layers
over reports.console, the store and pipelines.evidence)."""
from __future__ import annotations

import getpass
import os
import sys

from crawler.cli.common import CliError, existing_store, project_settings, require_store, sub_command, table

ROLE_ALIASES = {"admin": "admin", "管理员": "admin", "monitor": "monitor", "监测员": "monitor",
                "reviewer": "reviewer", "审核员": "reviewer", "readonly": "readonly", "只读": "readonly"}


def _settings():
    from crawler import settings
    return settings


# ---------------------------------------------------------------- serve

def cmd_serve(args) -> int:
    import uvicorn

    from reports.console.app import create_app
    host = args.host or _settings().CERTWATCH_CONSOLE_HOST
    port = _settings().CERTWATCH_CONSOLE_PORT if args.port is None else args.port
    if not args.create:                     # a mistyped --db: no silent new empty store
        require_store(args.db, "要新建数据库，先用 certwatch user add 姓名 --role admin --db 路径 --create "
                               "创建第一个用户，或加 --create 启动一个空的审核台")
    try:
        app = create_app(args.db)
    except OSError as exc:
        raise CliError(f"无法打开数据库 {args.db}：{exc}") from None
    from pipelines import store
    with store.opened(args.db) as db:
        if not store.list_users(db):
            print("提示：还没有任何用户，请先运行 certwatch user add 姓名 --role admin", file=sys.stderr)
    # X-Forwarded-For is believed only from a reverse proxy named here: from
    # anyone else it would let a client pick the address the login limit counts.
    trusted = args.trusted_proxy or ""
    config = uvicorn.Config(app, host=host, port=port, log_level=args.log_level.lower(),
                            proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
                            server_header=False)
    server = uvicorn.Server(config)
    listening = _listen(host, port)          # a busy port: a Chinese error, not uvicorn's English one

    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets=sockets)
        for srv in getattr(server, "servers", []):
            for sock in srv.sockets:
                addr = sock.getsockname()
                print(f"http://{addr[0]}:{addr[1]}", flush=True)
                print(f"审核台已启动：http://{addr[0]}:{addr[1]}/ （Ctrl+C 停止）", file=sys.stderr, flush=True)
                break
            break
    server.startup = startup
    try:
        server.run(sockets=[listening])
    except KeyboardInterrupt:
        pass
    finally:
        listening.close()
    return 0


def _listen(host: str, port: int):
    """The console's socket, bound here so that a refusal reads in Chinese."""
    import errno
    import socket
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise CliError(f"无法监听 {host}:{port}：{exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = "端口已被占用（可能审核台已在运行；用 --port 换一个端口）" if exc.errno == errno.EADDRINUSE else \
            "没有权限（1024 以下的端口需要管理员权限）" if exc.errno == errno.EACCES else str(exc)
        raise CliError(f"无法监听 {host}:{port}：{why}") from None
    sock.set_inheritable(True)
    return sock


# ---------------------------------------------------------------- users

def _read_password(args) -> str:
    if args.password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        value = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != value:
            raise CliError("两次输入的密码不一致")
    else:
        raise CliError("请用 --password-stdin 从标准输入提供密码，或在终端中交互输入")
    return value


def _role(value: str) -> str:
    role = ROLE_ALIASES.get((value or "").strip())
    if role is None:
        raise CliError(f"未知的角色：{value}（可选：admin/管理员、monitor/监测员、reviewer/审核员、readonly/只读）")
    return role


def cmd_user_add(args) -> int:
    from pipelines import store
    from reports.console.passwords import PasswordError, hash_password
    role = _role(args.role)
    if not args.create:                     # before the password is typed
        require_store(args.db, "新部署创建第一个用户时加 --create 新建数据库")
    password = _read_password(args)
    try:
        hashed = hash_password(password)
    except PasswordError as exc:
        raise CliError(str(exc)) from None
    with store.opened(args.db) as db:
        try:
            store.add_user(db, args.name, role, hashed, created_by=f"cli:{getpass.getuser()}")
        except store.StoreError as exc:
            raise CliError(str(exc)) from None
    print(f"已创建用户 {args.name.strip()}（{store.ROLES[role]}）")
    return 0


def cmd_user_list(args) -> int:
    from pipelines import store
    from pipelines.evidence import beijing_time
    with existing_store(args) as db:
        rows = [[u["name"], store.ROLES.get(u["role"], u["role"]), "已停用" if u["disabled"] else "正常",
                 beijing_time(u["created_at"], False)] for u in store.list_users(db)]
    print(table(rows, ["用户名", "角色", "状态", "创建时间（北京时间）"]) if rows else "还没有用户")
    return 0


def cmd_user_set(args) -> int:
    from pipelines import store
    from reports.console.passwords import PasswordError, hash_password
    with existing_store(args) as db:
        try:
            user = store.get_user(db, name=args.name)
            if user is None:
                raise CliError(f"用户 {args.name} 不存在")
            hashed = None
            if args.password_stdin or args.password:
                try:
                    hashed = hash_password(_read_password(args))
                except PasswordError as exc:
                    raise CliError(str(exc)) from None
            disabled = True if args.disable else False if args.enable else None
            store.update_user(db, user["id"], role=_role(args.role) if args.role else None,
                              disabled=disabled, password_hash=hashed)
        except store.StoreError as exc:
            raise CliError(str(exc)) from None
    print(f"已更新用户 {args.name}")
    return 0


# ---------------------------------------------------------------- evidence

def cmd_evidence_capture(args) -> int:
    from crawler.cli.common import profile_settings
    from pipelines import evidence, store
    settings = project_settings()
    for key, value in profile_settings(args).items():     # the sweep's --profiles / --local
        settings.set(key, value, priority="cmdline")
    config = evidence.CaptureConfig.from_settings(
        settings, sandbox=args.sandbox, operator=args.operator or getpass.getuser(),
        concurrency=args.concurrency, item_timeout=args.timeout)
    if not config.sandbox and not args.real:
        raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上取证")
    from crawler.logfile import log_note, log_to_file, translate
    from crawler.progress import Progress, on_capture
    require_store(args.db)
    log_to_file(args.db)
    db = store.connect(args.db)
    root = store.evidence_dir(db)
    try:
        with Progress("取证", enabled=not args.quiet) as progress:
            try:
                stats = evidence.capture(db, config, limit=args.limit or 0, progress=on_capture(progress))
            except evidence.CaptureError as exc:
                raise CliError(str(exc)) from None
    finally:
        db.close()
    for item, error in stats.errors:
        print(f"失败：{'信息' if item['kind'] == 'finding' else '网站'} #{item['id']} {item['url']}：{translate(error)}")
    print(f"取证完成：成功 {stats.ok} 条，失败 {stats.failed} 条（失败的下次运行时重试）；"
          f"证据目录 {root}")
    if log_note():
        print(log_note(), file=sys.stderr)
    return 0 if not stats.failed else 1








def cmd_evidence_verify(args) -> int:
    from pipelines import evidence, store
    require_store(args.db)
    db = store.connect(args.db)
    try:
        report = evidence.verify(db)
    finally:
        db.close()
    for p in report.problems:
        where = f"证据 #{p.evidence_id}" if p.evidence_id else "证据链"
        line = f"{where} {p.kind} {p.path}：{evidence.PROBLEMS[p.problem]}".replace("  ", " ")
        if p.expected or p.actual:
            line += f"（记录 {p.expected or '无'}，实际 {p.actual or '无'}）"
        print(line)
    if report.problems:
        print(f"校验未通过：{report.rows} 条证据记录、{report.files} 个文件中发现 {len(report.problems)} 个问题")
        return 1
    print(f"校验通过：{report.rows} 条证据记录的封存哈希链完整，{report.files} 个文件的 SHA-256 和大小全部一致")
    return 0


# ---------------------------------------------------------------- register

def register(add) -> None:
    p = add("serve", "启动审核台（网页，默认只监听本机 127.0.0.1）", cmd_serve,
            "certwatch serve --db demo/certwatch.db --port 8000")
    p.add_argument("--host", default=None, help="监听地址（默认 127.0.0.1；对外提供请放在 HTTPS 反向代理之后）")
    p.add_argument("--port", type=int, default=None, help="端口（默认 8000；0 表示任选空闲端口）")
    p.add_argument("--trusted-proxy", "--forwarded-allow-ips", dest="trusted_proxy", default=None,
                   help="信任其 X-Forwarded-* 头的反向代理地址（逗号分隔，如 127.0.0.1）；不给则不信任任何转发头")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--create", action="store_true", help="数据库文件不存在时新建一个空数据库（默认拒绝，以免路径写错）")

    p = add("user", "审核台用户：创建、列出、修改（角色：管理员/监测员/审核员/只读）",
            lambda a: p.print_help() or 2, "certwatch user add 张三 --role reviewer")
    sub = p.add_subparsers(dest="user_command", metavar="子命令")
    s = sub_command(sub, "add", "创建用户（密码从终端输入或 --password-stdin；没有默认密码）", cmd_user_add,
             "echo '一个足够长的密码' | certwatch user add 张三 --role reviewer --password-stdin")
    s.add_argument("name", help="用户名")
    s.add_argument("--role", required=True, help="admin/管理员、monitor/监测员、reviewer/审核员、readonly/只读")
    s.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码（一行）")
    s.add_argument("--create", action="store_true",
                   help="数据库文件不存在时新建（新部署的第一个用户；默认拒绝，以免路径写错）")
    s = sub_command(sub, "list", "列出用户", cmd_user_list, "certwatch user list")
    s = sub_command(sub, "set", "修改用户：角色、停用/启用、重设密码（修改后该用户需重新登录）", cmd_user_set,
             "certwatch user set 张三 --role readonly")
    s.add_argument("name", help="用户名")
    s.add_argument("--role", help="新角色")
    s.add_argument("--disable", action="store_true", help="停用")
    s.add_argument("--enable", action="store_true", help="启用")
    s.add_argument("--password", action="store_true", help="在终端中重设密码")
    s.add_argument("--password-stdin", action="store_true", help="从标准输入读取新密码")

    p = add("evidence", "证据：取证（截图、网页、WARC、SHA-256）与校验", lambda a: p.print_help() or 2,
            "certwatch evidence verify --db demo/certwatch.db")
    sub = p.add_subparsers(dest="evidence_command", metavar="子命令")
    s = sub_command(sub, "capture", "为可疑信息和可疑/假冒网站取证（已成功取证的跳过，失败的重试）",
             cmd_evidence_capture,
             "certwatch evidence capture --sandbox http://127.0.0.1:8765 --db demo/certwatch.db")
    s.add_argument("--sandbox", default="", help="沙箱地址（浏览器经由沙箱代理访问）")
    s.add_argument("--real", action="store_true", help="在真实网络上取证")
    s.add_argument("--limit", type=int, default=0, help="最多取证条数（默认全部）")
    s.add_argument("--operator", default="", help="操作人（写入提取记录；默认当前系统用户）")
    s.add_argument("--concurrency", type=int, default=None, help="同时打开的页面数")
    s.add_argument("--timeout", type=float, default=None, help="每条的时限（秒）")
    s.add_argument("--quiet", action="store_true", help="不显示进度")
    s.add_argument("--profiles", help="额外的平台配置目录（其中平台的代理设置同样适用）")
    s.add_argument("--local", action="store_true", help="允许访问 --profiles 目录中平台配置的本机主机（同 sweep --local）")
    s = sub_command(sub, "verify", "校验证据：逐条核对封存哈希链（记录被改动、删除、调换）并重新计算每个文件的 SHA-256（有问题时退出码 1）",
             cmd_evidence_verify, "certwatch evidence verify --db demo/certwatch.db")
