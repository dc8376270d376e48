"""What the replicas hold: the sandbox world's listings placed on the real
sites (deterministically, by listing number), and the searches every
replica answers with — the same functions the tests ask what a sweep can
reach (``reachable_*``).

* Each listing lives on one *family*: 贴吧, 58同城, 百姓网, 黄页88, 八方资源,
  列表网, GitHub (issues: an issue and its comments) or the open web (a
  Discuz! forum's threads, and single article pages on a site with no
  profile).
* The sites' own searches show live listings only; the search engines'
  index is stale (removed listings too) and holds the world's web sites.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from crawler.sandbox.world import PAGE_SIZE, Listing, World, fold

FAMILIES = ("tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao", "github", "web")
GITHUB_REPOS = ("kaiyuan-demo/forum", "xiaoming-dev/blog-comments", "devtools-cn/issue-tracker")
ISSUE_SIZE = 3          # an issue and two comments
THREAD_SIZE = 3         # a forum thread's floors
FORUM_HOST = "bbs.gongchengren.cn"
ARTICLE_HOST = "www.anquanzixun.cn"
_PHONE = re.compile(r"1[3-9]\d{9}")

# Per family: (URL of a listing, id offset). The id in the URL is num + offset.
OFFSETS = {"tieba": 9_000_000_000, "wuba": 50_000_000_000_000, "baixing": 2_000_000_000,
           "huangye88": 200_000_000, "b2b168": 300_000_000, "liebiao": 40_000_000, "comment": 2_000_000_000}


def listing_url(family: str, num: int) -> str:
    n = num + OFFSETS.get(family, 0)
    return {
        "tieba": f"https://tieba.baidu.com/p/{n}",
        "wuba": f"https://sh.58.com/shangwu/{n}x.shtml",
        "baixing": f"https://shanghai.baixing.com/jinengpeixun/a{n}.html",
        "huangye88": f"http://sh.huangye88.com/xinxi/{n}.html",
        "b2b168": f"https://info.b2b168.com/s168-{n}.html",
        "liebiao": f"http://sh.liebiao.com/peixun/{n}.html",
    }[family]


@dataclass
class Issue:
    repo: str
    number: int
    posts: list            # [issue listing, comment listings...]

    @property
    def id(self) -> str:
        return f"issue-{self.repo}-{self.number}"

    @property
    def html_url(self) -> str:
        return f"https://github.com/{self.repo}/issues/{self.number}"

    def comment_url(self, listing: Listing) -> str:
        return f"{self.html_url}#issuecomment-{listing.num + OFFSETS['comment']}"

    @functools.cached_property
    def searchable(self) -> str:
        return fold(" ".join(l.title + " " + l.text for l in self.posts))


@dataclass
class Thread:
    tid: int
    posts: list

    @property
    def id(self) -> str:
        return f"thread-{self.tid}"

    @property
    def url(self) -> str:
        return f"http://{FORUM_HOST}/thread-{self.tid}-1-1.html"

    @functools.cached_property
    def searchable(self) -> str:
        return fold(" ".join(l.title + " " + l.text for l in self.posts))


@dataclass
class Doc:
    """One entry of the search engines' index."""
    id: str
    url: str
    title: str
    snippet: str
    searchable: str
    target: object = field(repr=False, default=None)   # Listing, Issue, Thread or Site


class Corpus:
    def __init__(self, w: World):
        self.w = w
        self.family: dict[int, str] = {}
        self.by_family: dict[str, list[Listing]] = {f: [] for f in FAMILIES}
        for listing in w.listings:
            fam = FAMILIES[listing.num % len(FAMILIES)]
            self.family[listing.num] = fam
            self.by_family[fam].append(listing)
        gh = self.by_family["github"]
        self.issues: list[Issue] = []
        for i in range(0, len(gh), ISSUE_SIZE):
            n = i // ISSUE_SIZE
            self.issues.append(Issue(GITHUB_REPOS[n % len(GITHUB_REPOS)], 100 + n, gh[i:i + ISSUE_SIZE]))
        self.issue_of = {l.num: issue for issue in self.issues for l in issue.posts}
        web = self.by_family["web"]
        self.articles = [l for l in web if _PHONE.search(l.text)]
        floors = [l for l in web if l not in self.articles]
        self.threads = [Thread(floors[i].num, floors[i:i + THREAD_SIZE]) for i in range(0, len(floors), THREAD_SIZE)]
        self.thread_of = {l.num: t for t in self.threads for l in t.posts}
        self._docs: list[Doc] | None = None
        self._pinyin: dict[str, list[Doc]] = {}

    # -- who lives where
    def listing(self, family: str, num: int) -> Listing | None:
        listing = self.w.by_num.get(num)
        return listing if listing is not None and self.family.get(num) == family else None

    def live(self, listing: Listing) -> bool:
        return not self.w.is_removed(listing)

    def url_of(self, listing: Listing) -> str:
        fam = self.family[listing.num]
        if fam == "github":
            issue = self.issue_of[listing.num]
            return issue.html_url if listing is issue.posts[0] else issue.comment_url(listing)
        if fam == "web":
            if listing in self.articles:
                return f"http://{ARTICLE_HOST}/news/{listing.num}.html"
            return self.thread_of[listing.num].url
        return listing_url(fam, listing.num)

    # -- searches
    @staticmethod
    def terms(query: str) -> tuple[str, list[str]]:
        """(plain query, site: scopes) — other qualifiers (is:issue) dropped."""
        words, sites = [], []
        for token in query.split():
            if token.lower().startswith("site:"):
                sites.append(token[5:].lower().strip("/"))
            elif ":" not in token:
                words.append(token)
        return " ".join(words), sites

    def family_search(self, family: str, query: str) -> list[Listing]:
        """A site's own search: its live listings."""
        plain, _ = self.terms(query)
        found = self.w._match(self.by_family[family], plain, f"replica:{family}")
        return [l for l in found if self.live(l)]

    def pinyin_search(self, family: str, slug: str) -> list[Listing]:
        """A site whose keyword pages are named in pinyin (八方资源网
        ``/k-gaoyadiangongzheng-daiban/``): words separated by "-"."""
        docs = self._pinyin.get(family)
        if docs is None:
            from pypinyin import lazy_pinyin
            docs = self._pinyin[family] = [
                Doc(l.id, "", "", "", fold("".join(lazy_pinyin(l.title + " " + l.text))), l)
                for l in self.by_family[family]]
        found = self.w._match(docs, slug.replace("-", " "), f"replica:{family}:pinyin")
        return [d.target for d in found if self.live(d.target)]

    @staticmethod
    def slug(query: str) -> str:
        from pypinyin import lazy_pinyin
        return "-".join("".join(lazy_pinyin(w)) for w in Corpus.terms(query)[0].split())

    def issue_search(self, query: str) -> list[Issue]:
        """GitHub issue search: issues still there, matched on the issue and its comments."""
        plain, _ = self.terms(query)
        found = self.w._match(self.issues, plain, "replica:issues")
        return [i for i in found if self.live(i.posts[0])]

    def docs(self) -> list[Doc]:
        if self._docs is None:
            docs = []
            for fam in ("tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao"):
                for l in self.by_family[fam]:
                    docs.append(Doc(l.id, listing_url(fam, l.num), l.title, l.text[:80], l.searchable, l))
            for i in self.issues:
                first = i.posts[0]
                docs.append(Doc(i.id, i.html_url, first.title, first.text[:80], i.searchable, i))
            for t in self.threads:
                docs.append(Doc(t.id, t.url, t.posts[0].title, t.posts[0].text[:80], t.searchable, t))
            for l in self.articles:
                docs.append(Doc(l.id, self.url_of(l), l.title, l.text[:80], l.searchable, l))
            for s in self.w.sites:
                docs.append(Doc(s.host, s.url, s.title, s.agency, s.searchable, s))
            self._docs = docs
        return self._docs

    def engine_search(self, query: str) -> list[Doc]:
        """The search engines' (stale) index, with ``site:`` scopes honoured."""
        plain, sites = self.terms(query)
        found = self.w._match(self.docs(), plain, "replica:engine")
        if sites:
            from urllib.parse import urlsplit

            def in_scope(doc):
                host = urlsplit(doc.url).hostname or ""
                return any(host == s or host.endswith("." + s) for s in sites)
            found = [d for d in found if in_scope(d)]
        return found

    # -- the truth, for tests
    def posts_reached(self, doc: Doc) -> set[str]:
        """Findings a sweep stores from one engine result (none for sites and removed pages)."""
        target = doc.target
        if isinstance(target, Listing):
            return {doc.url} if self.live(target) else set()
        if isinstance(target, Issue):
            if not self.live(target.posts[0]):
                return set()
            return {target.html_url} | {target.comment_url(l) for l in target.posts[1:] if self.live(l)}
        if isinstance(target, Thread):
            live = [l for l in target.posts if self.live(l)]
            return ({target.url} | {f"{target.url}#postmessage_{l.num}" for l in live[1:]}) if live else set()
        return set()

    def reachable_engine(self, queries, pages: int) -> set[str]:
        urls: set[str] = set()
        for q in queries:
            for doc in self.engine_search(q)[:pages * PAGE_SIZE]:
                urls |= self.posts_reached(doc)
        return urls

    def reachable_family(self, family: str, queries, pages: int) -> set[str]:
        def found(q):
            return self.pinyin_search(family, self.slug(q)) if family == "b2b168" else self.family_search(family, q)
        return {listing_url(family, l.num) for q in queries for l in found(q)[:pages * PAGE_SIZE]}

    def reachable_github(self, queries, pages: int, per_page: int) -> set[str]:
        urls: set[str] = set()
        for q in queries:
            for issue in self.issue_search(q)[:pages * per_page]:
                urls.add(issue.html_url)
                urls |= {issue.comment_url(l) for l in issue.posts[1:] if self.live(l)}
        return urls


@functools.lru_cache(maxsize=4)
def _corpus(key: int, w: World) -> Corpus:
    return Corpus(w)


def corpus(w: World) -> Corpus:
    return _corpus(id(w), w)
