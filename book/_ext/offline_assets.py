"""Sphinx extension: make the built book work offline and keep the browser console clean.

1. MathJax 3 is served from the book's own ``_static/mathjax/`` (copied from the pinned PyPI package
   ``django-static-mathjax``, which ships MathJax 3.2.2) instead of a CDN, so math is typeset without a
   network. ``mathjax_path`` in ``_config.yml`` points there.
2. Works around Sphinx 7.4's duplicated inline ``<script>`` bodies (sphinx-doc/sphinx#13402, fixed only in
   Sphinx 8.2, which Jupyter Book 1.x cannot use): ``app.add_js_file(None, body=...)`` after
   ``Builder.init()`` is written twice, so sphinx-thebe's ``const THEBE_JS_URL`` is declared twice and every
   page throws "Identifier 'THEBE_JS_URL' has already been declared".
"""

from __future__ import annotations

import shutil
from pathlib import Path

# The parts of MathJax's es5/ tree that the tex-mml-chtml component loads: itself, its fonts, and the TeX
# extensions it autoloads (e.g. \boldsymbol, \cancel).
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def _mathjax_es5() -> Path:
    import mathjax  # the django-static-mathjax package; it has no Django dependency

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_es5()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    original = app.add_js_file

    def add_js_file(filename, priority=500, loading_method=None, **kwargs):
        # Sphinx's HTML builder re-adds registry entries as '' (not None); register them as '' too.
        return original(filename or "", priority=priority, loading_method=loading_method, **kwargs)

    app.add_js_file = add_js_file
    _mathjax_es5()  # fail at start-up, not at the end, if the package is missing
    app.connect("build-finished", _copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
