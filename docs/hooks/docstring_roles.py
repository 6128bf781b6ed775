"""MkDocs hook: drop Sphinx-style roles (``:func:`x```, ``:class:`X```, ...) from rendered docstrings.

The library's docstrings name other objects Sphinx-style; mkdocstrings renders the backticked part as
code and would leave the role prefix in front of it. This keeps the code and drops the prefix.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj|const):(?=<code)")


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    return _ROLE.sub("", html)
