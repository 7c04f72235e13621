"""The built book as a reader sees it: every page of the site opened in headless Chromium over HTTP.

The site is served from localhost by tools/serve_book.py; Chromium (Debian's ``chromium``) is driven by
Playwright's Python package with the system browser, so nothing is downloaded. Pages are discovered from
the built site itself (every ``*.html`` outside ``_static``/``_sources``/``_images``) and chapters from
``_toc.yml``: nothing here names a chapter. One crawl visits every page once; the tests below each check
one property of what it saw:

* no JavaScript error (uncaught exceptions, ``console.error``), no failed or refused request;
* every ``<img>`` loaded (``naturalWidth > 0``);
* math typeset: MathJax ran, every ``.math`` element holds an ``mjx-container``, no TeX error and no
  raw TeX (``$$``, ``\\(``, ``\\[``, ``$\\macro``) left in the text;
* no broken internal link: every same-site ``<a href>`` answers 200 and its ``#fragment`` is an id on
  the target page (in-page ``#...`` links included; external links are not followed);
* every ``_toc.yml`` entry is reachable from ``index.html`` by following the left navigation;
* a full-page screenshot of every page, saved to ``_build/screenshots/<path with / as _>.png``;
* every range slider (the kernel-free α explorer) shows another frame when moved with the keyboard;
* every chapter page (``book/generated/``) has numbered figures ("Book figure 1: …", not the paper's "Fig. 1"),
  every image of its article sits in a numbered figure, and it offers its jupytext source (.py) and executed
  notebook (.ipynb) for download;
* no absolute path of a build machine (``/work/``, ``/tmp/``, ``/home/``, ``/root/`` …) in any page's text;
* every function, class, method and exception on a page that documents them has a ``[source]`` link.

The page may not reach the network: requests to any other host are refused (and so reported), so the
result does not depend on whether the machine is online, and a book that needs a CDN fails here.

Which site: ``MIXUP_BOOK_HTML=_build/html pytest tests/test_browser.py`` tests an existing build (e.g. after
``make book``); otherwise the ``built_book`` fixture (tests/conftest.py) builds the book at the smoke profile
in a scratch copy. Screenshots go to that copy's ``_build/screenshots/`` and are copied to the repository's
``_build/screenshots/`` (the artifacts folder).

Skip policy: without Chromium or Playwright the tests are skipped with the reason, but only outside CI.
Under CI (``CI`` set and not ``0``/``false``) a missing browser is a failure, because .ci/run installs it
(``make system-deps``) and a silently skipped browser test would hide a broken book.
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "_build" / "screenshots"
# _modules: sphinx.ext.viewcode's highlighted source of each module (one page per module, not the book's prose);
# the API page's links into them are still checked (HTTP status and anchors) by test_no_broken_internal_links.
SKIPPED_DIRS = {"_static", "_sources", "_images", "_downloads", "_modules"}
# Flags for Debian's Chromium as root in a closed network: no sandbox (root), no GPU, and none of the
# background connections (QUIC, component updates, sync) that the closed network refuses noisily.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 60_000  # make test runs other tests beside the browser (pytest-xdist): pages can be slow
#: A full-page screenshot of the API page (every module) is tens of thousands of pixels tall and takes longer
#: than the timeout on a 2-core machine; the top of a page is what a reader sees first.
SCREENSHOT_MAX_HEIGHT = 6_000

pytestmark = pytest.mark.slow


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    """Skip on a developer's machine, fail under CI (see the module docstring)."""
    if _in_ci():
        pytest.fail(f"{reason} (CI installs it: make system-deps; the browser test must not be skipped in CI)")
    pytest.skip(reason)


def _load_serve_book():
    spec = importlib.util.spec_from_file_location("serve_book", ROOT / "tools" / "serve_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_pages(toc_file: Path) -> list[str]:
    """The site paths (``book/intro.html``) of every file entry in a Jupyter Book ``_toc.yml``."""
    toc = yaml.safe_load(toc_file.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return [f"{Path(name).with_suffix('').as_posix()}.html" for name in files]


def site_pages(html_root: Path) -> list[str]:
    """Every HTML page of the built site, as paths relative to its root."""
    pages = []
    for path in sorted(html_root.rglob("*.html")):
        parts = path.relative_to(html_root).parts
        if parts[0] in SKIPPED_DIRS or any(part.startswith(".") for part in parts):
            continue
        pages.append("/".join(parts))
    return pages


def screenshot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "_") + ".png"


class _Ids(html.parser.HTMLParser):
    """The fragment targets of an HTML page: every ``id`` and every ``<a name>``."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


@dataclass
class Visit:
    """What the browser saw on one page."""

    page: str
    final_url: str = ""
    redirect: str | None = None
    errors: list[str] = field(default_factory=list)  # JS errors, console errors, failed requests
    blocked: list[str] = field(default_factory=list)  # requests to other hosts, refused
    images: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    nav_links: list[str] = field(default_factory=list)
    nav_visible: bool = False
    screenshot: Path | None = None
    figures: list[dict] = field(default_factory=list)  # {number, caption} of every <figure>
    loose_images: list[str] = field(default_factory=list)  # images of the article outside any <figure>
    downloads: list[str] = field(default_factory=list)  # hrefs of the article's download links
    paths: list[str] = field(default_factory=list)  # absolute file-system paths in the page's text
    no_source: list[str] = field(default_factory=list)  # API entries without a [source] link
    wide_tables: list[str] = field(default_factory=list)  # "caption (width px in column px)" of overflowing tables
    cut_lines: list[str] = field(default_factory=list)  # printed cell output wider than its column
    sliders: list[dict] = field(default_factory=list)  # {before, after, value_before, value_after} per slider


@dataclass(repr=False)
class Crawl:
    base: str
    html_root: Path
    toc: list[str]
    pages: list[str]
    visits: dict[str, Visit]
    link_status: dict[str, str]  # url without fragment -> "ok" or the problem
    ids: dict[str, set[str]]  # url without fragment -> ids on that page


# One evaluate() per page. It waits for images and MathJax, then reports what a reader would see.
INSPECT_JS = r"""
async () => {
  const images = Array.from(document.images);
  images.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done);
  })));

  const mathNodes = Array.from(document.querySelectorAll('.math'));
  const mathjaxScript = document.querySelector('script[src*="mathjax" i], script[src*="tex-mml" i]');
  const math = {count: mathNodes.length, script: mathjaxScript ? mathjaxScript.src : null,
                loaded: false, untypeset: [], errors: [], undefined: [], raw: []};
  if (mathNodes.length) {
    const deadline = Date.now() + 3000;  // deferred scripts have run by now: a short grace
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() < deadline) {
      await new Promise(done => setTimeout(done, 50));
    }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
      math.loaded = true;
    }
    math.untypeset = mathNodes.filter(node => !node.querySelector('mjx-container'))
                              .map(node => node.textContent.trim().slice(0, 80));
    math.errors = Array.from(document.querySelectorAll('mjx-merror'))
                       .map(node => (node.getAttribute('data-mjx-error') || node.textContent).slice(0, 80));
    // MathJax shows an unknown macro (\foo, or an escaped \* a Markdown habit left in) as red text; CHTML draws
    // glyphs from CSS, so the text is read from the assistive MathML beside it.
    math.undefined = Array.from(document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]'))
                          .map(node => node.textContent.trim());
    // A display equation wider than the text column is cut off behind a scroll bar (MathJax's container scrolls).
    math.wide = Array.from(document.querySelectorAll('div.math mjx-container'))
                     .filter(node => node.scrollWidth > node.clientWidth + 1)
                     .map(node => {
                       const number = node.closest('div.math').querySelector('.eqno');
                       const label = number ? number.textContent.replace(/#/g, '').trim() : '(unnumbered)';
                       return `${label} (${node.scrollWidth} px in ${node.clientWidth} px)`;
                     });
  }
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, textarea, .highlight, mjx-container, .math')
       .forEach(node => node.remove());
  const text = prose.textContent;
  const rawTex = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$\\[A-Za-z]+/g;
  let match;
  while ((match = rawTex.exec(text)) !== null && math.raw.length < 5) {
    math.raw.push(text.slice(Math.max(0, match.index - 30), match.index + 40).replace(/\s+/g, ' '));
    rawTex.lastIndex = match.index + 40;  // one report per stretch of text, not one per delimiter
  }

  const article = document.querySelector('article') || document.querySelector('main') || document.body;
  const figures = Array.from(article.querySelectorAll('figure'), fig => ({
    number: (fig.querySelector('.caption-number') || {textContent: ''}).textContent.trim(),
    caption: (fig.querySelector('figcaption') || {textContent: ''}).textContent.trim().slice(0, 120)}));
  const looseImages = Array.from(article.querySelectorAll('img'))
    .filter(img => !img.closest('figure')).map(img => (img.getAttribute('src') || '').slice(0, 80));
  const downloads = Array.from(article.querySelectorAll('a.download, a[download]'), a => a.href);
  const whole = document.body.cloneNode(true);
  whole.querySelectorAll('script, style').forEach(node => node.remove());
  const paths = [];
  const absolute = /(^|[^\w.$~-])(\/(?:work|tmp|home|root|Users|private|mnt|scratch|var\/folders)\/[^\s'"<>)]*)/g;
  for (const found of whole.textContent.matchAll(absolute)) {
    if (paths.length < 5) paths.push(found[2].slice(0, 100));
  }
  const noSource = Array.from(document.querySelectorAll(
      'dl.py.function > dt.sig, dl.py.class > dt.sig, dl.py.method > dt.sig, dl.py.exception > dt.sig'))
    .filter(dt => !dt.querySelector('.viewcode-link')).map(dt => (dt.id || dt.textContent.trim()).slice(0, 80));

  // What a reader sees as the page opens: content folded in a closed <details> is not measured.
  const shown = node => (node.checkVisibility ? node.checkVisibility() : node.getClientRects().length > 0);
  const wideTables = Array.from(article.querySelectorAll('table')).filter(shown).map(table => {
    const column = (table.closest('div.cell_output') || article).clientWidth;
    const width = Math.ceil(table.getBoundingClientRect().width);
    const caption = (table.querySelector('caption') || {textContent: '(no caption)'}).textContent.trim();
    return width > column + 1 ? `${caption.slice(0, 60)} (${width} px in ${column} px)` : null;
  }).filter(Boolean);
  const cutLines = Array.from(article.querySelectorAll('div.cell_output div.output.stream pre'))
    .filter(pre => shown(pre) && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => `${pre.textContent.trim().slice(0, 60)} (${pre.scrollWidth} px in ${pre.clientWidth} px)`);

  const visible = node => !!node && node.getClientRects().length > 0
                          && getComputedStyle(node).visibility !== 'hidden';
  const sidebar = document.querySelector('.bd-sidebar-primary');
  const nav = document.querySelector('nav.bd-docs-nav') || sidebar;
  return {
    images: images.map(img => ({src: img.currentSrc || img.src || img.getAttribute('src') || '',
                                width: img.naturalWidth, alt: img.alt})),
    math,
    links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
    navLinks: sidebar ? Array.from(sidebar.querySelectorAll('a[href]'), a => a.href) : [],
    navVisible: visible(nav),
    figures, looseImages, downloads, paths, noSource, wideTables, cutLines,
  };
}
"""


# The frame an α slider shows: the <img> of the animation block that holds it (matplotlib's to_jshtml).
FRAME_JS = r"""
index => {
  const slider = document.querySelectorAll('input[type=range]')[index];
  const block = slider.closest('.animation') || slider.parentElement.parentElement;
  const img = block.querySelector('img');
  return {src: img ? img.src : null, value: slider.value};
}
"""


def _move_sliders(tab) -> list[dict]:
    """Press → on every range slider of the page, as a reader would; what its frame was before and after."""
    moved = []
    sliders = tab.locator("input[type=range]")
    for index in range(sliders.count()):
        before = tab.evaluate(FRAME_JS, index)
        sliders.nth(index).focus()
        sliders.nth(index).press("ArrowRight")
        tab.wait_for_timeout(200)
        after = tab.evaluate(FRAME_JS, index)
        moved.append({"before": before["src"], "after": after["src"], "value_before": before["value"],
                      "value_after": after["value"]})
    return moved


def _chromium_executable() -> str:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else ""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return ""


@pytest.fixture(scope="module")
def chromium():
    """(playwright.sync_api module, path of the Chromium binary), or skip/fail per the policy above."""
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("Playwright's Python package is not installed (pip install playwright; make setup)")
    executable = _chromium_executable()
    if not executable:
        _unavailable("Chromium is not installed (apt-get install chromium; make system-deps) or CHROMIUM_PATH is wrong")
    return sync_api, executable


@pytest.fixture(scope="module")
def site(request, chromium) -> Path:
    """The html folder of the site under test (see the module docstring)."""
    explicit = os.environ.get("MIXUP_BOOK_HTML")
    if explicit:
        html_root = Path(explicit).resolve()
        if not (html_root / "index.html").is_file():
            pytest.fail(f"MIXUP_BOOK_HTML={explicit} has no index.html (run make book first)")
        return html_root
    try:
        copy = request.getfixturevalue("built_book")
    except pytest.FixtureLookupError:
        pytest.fail("tests/conftest.py provides no built_book fixture; or set MIXUP_BOOK_HTML=_build/html", False)
    return Path(copy) / "_build" / "html"


def _check_links(base: str, html_root: Path, urls: set[str]) -> tuple[dict[str, str], dict[str, set[str]]]:
    status, ids = {}, {}
    for url in sorted(urls):
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        if path.endswith("/") and not (html_root / path.lstrip("/") / "index.html").is_file():
            status[url] = "a folder without index.html (a web host answers 404)"
            continue
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
                status[url] = "ok" if response.status == 200 else f"HTTP {response.status}"
                if "html" in response.headers.get("Content-Type", ""):
                    parser = _Ids()
                    parser.feed(body.decode("utf-8", errors="replace"))
                    ids[url] = parser.ids
        except urllib.error.HTTPError as error:
            status[url] = f"HTTP {error.code}"
        except OSError as error:
            status[url] = f"unreachable: {error}"
    return status, ids


def _redirects(path: Path) -> bool:
    """Whether a page is an HTML redirect (``<meta http-equiv="refresh">``, as Jupyter Book's index.html)."""
    return bool(re.search(r"<meta[^>]+http-equiv=[\"']?refresh", path.read_text(errors="replace"), re.IGNORECASE))


def _page_key(base: str, url: str) -> str | None:
    """The site path of a same-site URL (``book/intro.html``), None for anything else."""
    url = urllib.parse.urldefrag(url).url
    if not url.startswith(base):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/")
    if path == "" or path.endswith("/"):
        path += "index.html"
    return path


@pytest.fixture(scope="module")
def crawl(chromium, site) -> Crawl:
    sync_api, executable = chromium
    html_root = site
    source_root = html_root.parent.parent
    toc_file = source_root / "_toc.yml" if (source_root / "_toc.yml").is_file() else ROOT / "_toc.yml"
    toc = toc_pages(toc_file)
    pages = site_pages(html_root)
    assert "index.html" in pages, f"{html_root} has no index.html"

    shots = source_root / "_build" / "screenshots"
    folders = [shots] if shots.resolve() == ARTIFACTS.resolve() else [shots, ARTIFACTS]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.png"):
            stale.unlink()

    visits: dict[str, Visit] = {}
    with _load_serve_book().serve(html_root) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        # A fresh context is a fresh profile (Playwright gives each browser its own temporary user-data-dir).
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        favicon = base + "favicon.ico"
        current: list[Visit] = []

        def offsite(route):
            url = route.request.url
            if url.startswith(("http://", "https://")) and not url.startswith(base):
                current[-1].blocked.append(url)
                route.abort("blockedbyclient")
            else:
                route.continue_()

        def on_console(message):
            # Chromium asks every host for /favicon.ico on its own; the book names no favicon, so that 404
            # is no page's error (and would be outside the book's control on a host's sub-path anyway).
            if message.type == "error" and message.location.get("url") != favicon:
                where = message.location.get("url", "")
                current[-1].errors.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

        def on_response(response):
            if response.status >= 400 and response.url != favicon:
                current[-1].errors.append(f"HTTP {response.status} for {response.url}")

        def on_failed(request):
            if request.url != favicon and request.url not in current[-1].blocked:
                current[-1].errors.append(f"request failed: {request.url} ({request.failure})")

        context.route("**/*", offsite)
        tab = context.new_page()
        tab.on("console", on_console)
        tab.on("pageerror", lambda error: current[-1].errors.append(f"uncaught JavaScript error: {error}"))
        tab.on("response", on_response)
        tab.on("requestfailed", on_failed)

        for page in pages:
            visit = Visit(page)
            current.append(visit)
            url = base + page
            tab.goto(url, wait_until="load")
            if _redirects(html_root / page):
                tab.wait_for_url(lambda now, start=url: now != start)
                tab.wait_for_load_state("load")
                visit.redirect = _page_key(base, tab.url)
            tab.wait_for_load_state("networkidle")
            seen = tab.evaluate(INSPECT_JS)
            visit.final_url = tab.url
            visit.images, visit.math = seen["images"], seen["math"]
            visit.links, visit.nav_links, visit.nav_visible = seen["links"], seen["navLinks"], seen["navVisible"]
            visit.figures, visit.loose_images, visit.downloads = seen["figures"], seen["looseImages"], seen["downloads"]
            visit.paths, visit.no_source, visit.wide_tables = seen["paths"], seen["noSource"], seen["wideTables"]
            visit.cut_lines = seen["cutLines"]
            if visit.redirect is None:  # a redirect page shows nothing of its own: its target is shot
                visit.screenshot = shots / screenshot_name(page)
                height = min(tab.evaluate("document.documentElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
                tab.screenshot(path=str(visit.screenshot), full_page=True, animations="disabled",
                               clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
                for folder in folders[1:]:
                    shutil.copy2(visit.screenshot, folder / visit.screenshot.name)
                visit.sliders = _move_sliders(tab)  # after the shot: the page is shown as it loads
            visits[page] = visit
        browser.close()

        targets = {
            urllib.parse.urldefrag(link).url
            for visit in visits.values()
            for link in visit.links
            if link.startswith(base)
        }
        link_status, ids = _check_links(base, html_root, targets)
        return Crawl(base, html_root, toc, pages, visits, link_status, ids)


def _fail_if(problems: dict[str, list[str]], title: str) -> None:
    """Fail with one readable list of every problem, page by page (no assertion-rewriting noise)."""
    report = "\n".join(f"{page}:\n  " + "\n  ".join(items) for page, items in problems.items() if items)
    if report:
        pytest.fail(f"{title}\n{report}", pytrace=False)


def _content_pages(crawl):
    """(page, visit) for every page but redirects (index.html shows its target, which is visited itself)."""
    return [(page, visit) for page, visit in crawl.visits.items() if visit.redirect is None]


def test_every_toc_page_was_built_and_visited(crawl):
    missing = [page for page in crawl.toc if page not in crawl.visits]
    if missing:
        pytest.fail(f"_toc.yml entries with no page in {crawl.html_root}: {missing}", pytrace=False)


def test_no_javascript_errors_or_failed_requests(crawl):
    problems = {}
    for page, visit in crawl.visits.items():
        items = list(dict.fromkeys(visit.errors))
        items += [f"needs the network (refused here): {url}" for url in dict.fromkeys(visit.blocked)]
        problems[page if visit.redirect is None else f"{page} (redirects to {visit.redirect})"] = items
    _fail_if(problems, "JavaScript errors or failed requests:")


def test_every_image_loaded(crawl):
    problems = {
        page: [f"not loaded: {image['src'] or '(no src)'} alt={image['alt']!r}"
               for image in visit.images if image["width"] == 0]
        for page, visit in _content_pages(crawl)
    }
    _fail_if(problems, "images that did not load (naturalWidth 0):")
    figures = [page for page in crawl.toc if page.startswith("book/generated/")]
    empty = [page for page in figures if not crawl.visits[page].images]
    assert not empty, f"figure chapters showing no image: {empty}"


def test_math_is_typeset(crawl):
    problems = {}
    for page, visit in _content_pages(crawl):
        math, items = visit.math, []
        if math.get("count") and not math.get("loaded"):
            items.append(f"MathJax did not start (script: {math.get('script')}); {math['count']} formulas raw")
        elif math.get("untypeset"):
            items.append(f"{len(math['untypeset'])} formulas not typeset, e.g. {math['untypeset'][:3]}")
        items += [f"TeX error: {error}" for error in math.get("errors", [])]
        items += [f"undefined macro: {name}" for name in math.get("undefined", [])]
        items += [f"display equation {wide} wider than the text column" for wide in math.get("wide", [])]
        items += [f"raw TeX in the text: ...{snippet}..." for snippet in math.get("raw", [])]
        problems[page] = items
    _fail_if(problems, "math problems:")
    assert any(visit.math.get("count") for visit in crawl.visits.values()), "no page has math: is MathJax wired?"


def test_no_broken_internal_links(crawl):
    problems = {}
    for page, visit in _content_pages(crawl):
        items = []
        for link in dict.fromkeys(visit.links):
            if not link.startswith(crawl.base):
                continue  # external: not followed (the network is closed)
            target, fragment = urllib.parse.urldefrag(link)
            shown = link.removeprefix(crawl.base)
            if crawl.link_status.get(target) != "ok":
                items.append(f"{shown}: {crawl.link_status.get(target)}")
            elif fragment and target in crawl.ids and urllib.parse.unquote(fragment) not in crawl.ids[target]:
                items.append(f"{shown}: no element with id {fragment!r} on the target page")
        problems[page] = items
    _fail_if(problems, "broken internal links:")


def test_every_chapter_is_reachable_from_the_left_navigation(crawl):
    start = crawl.visits["index.html"]
    landing = start.redirect or "index.html"
    if landing != crawl.toc[0]:
        pytest.fail(f"index.html leads to {landing}, not to the book's root {crawl.toc[0]}", pytrace=False)
    if not crawl.visits[landing].nav_visible:
        pytest.fail(f"the left navigation is not visible on {landing}", pytrace=False)
    reached, queue = {landing}, deque([landing])
    while queue:
        visit = crawl.visits.get(queue.popleft())
        for link in visit.nav_links if visit else []:
            key = _page_key(crawl.base, link)
            if key and key not in reached:
                reached.add(key)
                queue.append(key)
    unreachable = [page for page in crawl.toc if page not in reached]
    if unreachable:
        pytest.fail(
            f"_toc.yml pages not reachable from index.html through the left navigation: {unreachable}\n"
            f"reached: {sorted(reached)}",
            pytrace=False,
        )


def test_a_screenshot_of_every_page_is_saved(crawl):
    missing = []
    for visit in crawl.visits.values():
        if visit.redirect is not None:
            continue
        for folder in {visit.screenshot.parent, ARTIFACTS}:
            shot = folder / visit.screenshot.name
            if not shot.is_file() or shot.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                missing.append(str(shot))
    if missing:
        pytest.fail(f"screenshots not saved: {missing}", pytrace=False)


def _chapters(crawl):
    """(page, visit) of every figure chapter of the table of contents (the executed notebooks)."""
    return [(page, crawl.visits[page]) for page in crawl.toc if page.startswith("book/generated/")]


def test_every_slider_shows_another_frame_when_moved(crawl):
    problems, sliders = {}, 0
    for page, visit in _content_pages(crawl):
        items = []
        for i, moved in enumerate(visit.sliders):
            sliders += 1
            if moved["value_after"] == moved["value_before"]:
                items.append(f"slider {i}: → did not move it (value {moved['value_before']})")
            elif not moved["before"] or moved["after"] == moved["before"]:
                items.append(f"slider {i}: moved from {moved['value_before']} to {moved['value_after']}, "
                             "but the frame did not change")
        problems[page] = items
    _fail_if(problems, "sliders that do not work without a kernel:")
    assert sliders, "no page has a range slider: the α explorer of the approximation chapter is missing"


def test_every_chapter_numbers_its_figures_and_offers_its_sources(crawl):
    problems = {}
    for page, visit in _chapters(crawl):
        items = []
        if not visit.figures:
            items.append("no <figure> on the page")
        items += [f"figure without a number: {fig['caption'][:60]!r}" for fig in visit.figures
                  if not re.fullmatch(r"Book figure \d+(\.\d+)*", fig["number"].rstrip(":").strip())]
        items += [f"image outside a numbered figure: {src}" for src in visit.loose_images]
        for suffix, what in ((".py", "jupytext source"), (".ipynb", "executed notebook")):
            if not any(urllib.parse.urlsplit(link).path.endswith(suffix) for link in visit.downloads):
                items.append(f"no download link to its {what} ({suffix})")
        problems[page] = items
    _fail_if(problems, "chapter pages without numbered figures or downloads:")


def test_no_absolute_path_of_the_build_machine_in_any_page(crawl):
    problems = {page: [f"absolute path in the text: {path}" for path in visit.paths]
                for page, visit in _content_pages(crawl)}
    _fail_if(problems, "pages that show a path of the machine that built them (show $MIXUP_DATA/…, results/…):")


def test_every_documented_function_links_to_its_source(crawl):
    problems = {page: [f"no [source] link: {name}" for name in visit.no_source]
                for page, visit in _content_pages(crawl)}
    _fail_if(problems, "API entries without a [source] link (sphinx.ext.viewcode):")


def test_result_tables_fit_the_text_column(crawl):
    """As the page opens: a folded table (the theorem check's 16 quantities per case) is measured by no one."""
    problems = {page: visit.wide_tables for page, visit in _content_pages(crawl)}
    _fail_if(problems, "tables wider than the text column (a reader scrolls sideways to read them):")


def test_printed_output_wraps_within_the_text_column(crawl):
    problems = {page: visit.cut_lines for page, visit in _content_pages(crawl)}
    _fail_if(problems, "printed lines cut at the column's edge (a reader scrolls sideways to read them):")
