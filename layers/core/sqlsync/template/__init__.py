"""The SQL template language (Altcraft-compatible): lexer -> parser -> compiler, behind one facade.

>>> from sqlsync.dialects import dialect_for
>>> t = compile_template("DELETE FROM s WHERE id IN ({batch_in \"CustomID\"})", dialect_for("postgresql"))
>>> t.render({}, [{"CustomID": "o'k"}, {"CustomID": 7}])
["DELETE FROM s WHERE id IN ('o''k', 7)"]
"""

from __future__ import annotations

import threading

from sqlsync.dialects.base import Dialect
from sqlsync.template.compiler import CompiledTemplate, Compiler
from sqlsync.template.errors import RenderError, TemplateError, TemplateSyntaxError
from sqlsync.template.parser import parse

_cache: dict[tuple[str, str], CompiledTemplate] = {}
_cache_lock = threading.Lock()
_CACHE_LIMIT = 512


def compile_template(source: str, dialect: Dialect, name: str | None = None) -> CompiledTemplate:
    """Parse and compile once per (template, dialect settings); later calls hit the cache."""
    key = (source, repr(dialect))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    compiled = Compiler(dialect, name).compile(parse(source, name), source)
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = compiled
    return compiled


__all__ = ["CompiledTemplate", "RenderError", "TemplateError", "TemplateSyntaxError", "compile_template"]
