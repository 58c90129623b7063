"""Syntax tree -> a Python function that renders the statements of one chunk.

The compiler walks the tree with the SQL lexer, so it knows, for each placeholder, whether it stands in
code, inside a string literal the user opened, inside a quoted identifier or in a comment. It asks the
dialect for the one function that renders a value in that position and bakes it into generated Python
code (as Jinja does), which is then cached per (template, dialect). Statements are split at top-level
semicolons of the template text; values can never add one, because every value is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlsync.dialects.base import Dialect
from sqlsync.template import nodes
from sqlsync.template.errors import RenderError, TemplateSyntaxError
from sqlsync.template.filters import date_filter, filter_int
from sqlsync.template.lexer import Lexer
from sqlsync.template.sqlscan import (
    BLOCK_COMMENT,
    CODE,
    DOLLAR,
    IDENTIFIER,
    LINE_COMMENT,
    START,
    STRING,
    SqlState,
    scan,
)

Mode = Literal["batch", "per_lead", "once"]
Renderer = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], list[str]]

_BLANK = re.compile(r"(?:\s+|(?:--|#|//)[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def _flusher(check: Callable[[str], str]) -> Callable[[list[str], list[str]], None]:
    """Ends a statement: joins what was written, drops it when blank, checks what the target can store."""

    def flush(statements: list[str], out: list[str]) -> None:
        statement = "".join(out)
        out.clear()
        if not _BLANK.fullmatch(statement):
            statements.append(check(statement.strip()))

    return flush


def _path(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _as_list(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return value
    raise RenderError(f"{{for}} needs a list, got {type(value).__name__}")


def _compare(op: str) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        try:
            if op == "<":
                return bool(left < right)
            if op == ">":
                return bool(left > right)
            if op == "<=":
                return bool(left <= right)
            return bool(left >= right)
        except TypeError:
            # Different types (a missing field against a number) compare false, as in SQL.
            return False

    return compare


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple | dict):
        return item in container
    return False


@dataclass(frozen=True)
class CompiledTemplate:
    """A template ready to render for one dialect. `mode` says how a chunk maps to statements:
    'batch' renders the chunk once ({for} or {batch_in}), 'per_lead' once per profile, 'once' once."""

    source: str
    dialect: Dialect
    mode: Mode
    python_source: str
    _render: Renderer
    reads_lead_id: bool = True
    """Whether a profile's id can be read (`$lead._id`, or a whole `$lead` or `$batch`): when not, a lead may
    be the profile's fields alone, without a copy that adds `_id`."""

    def render(self, context: Mapping[str, Any], batch: Sequence[Mapping[str, Any]]) -> list[str]:
        return self._render(context, batch)


class _Scope:
    def __init__(self) -> None:
        self.vars: dict[str, tuple[str, str]] = {"batch": ("batch", "list")}
        self.loops: list[tuple[str, str]] = []  # (index local, length local) of enclosing loops


class Compiler:
    def __init__(self, dialect: Dialect, name: str | None = None) -> None:
        self.dialect = dialect
        self.name = name
        self.lines: list[str] = []
        self.indent = 1
        self.counter = 0
        self.scope = _Scope()
        self.names_used: set[str] = set()
        self.reads_lead_id = False
        self.text_values: dict[str, tuple[str, str]] = {}
        """An inlined value's piece -> (the test that its value is a str, the body of its literal then)."""
        self.whole_batch_uses = 0  # $batch as a value; a {for} over it takes one back
        self.pending: list[tuple[bool, str]] = []  # (is template text, text or Python expression)
        self.hoisted: list[str] = []
        # The code written just before the current node ends with a letter, digit, '_' or '$'.
        self.after_word = False
        literal, string_literal = dialect.literal_renderers()
        self.namespace: dict[str, Any] = {
            "_flush": _flusher(dialect.check_statement),
            "_path": _path,
            "_as_list": _as_list,
            "_contains": _contains,
            "_lit": literal,
            "_strlit": string_literal,
            "_text": dialect.to_text,
            "_ident": dialect.check_identifier,
            "_f_int": filter_int,
            "RenderError": RenderError,
        }
        for op, label in (("<", "lt"), (">", "gt"), ("<=", "le"), (">=", "ge")):
            self.namespace[f"_cmp_{label}"] = _compare(op)
        self.namespace.update(dialect.inline_names())

    def fail(self, message: str, node: nodes.Node) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, node.line, node.column, self.name)

    def emit(self, line: str) -> None:
        self.write_pending()
        self.lines.append("    " * self.indent + line)

    def put_text(self, text: str) -> None:
        if text:
            self.pending.append((True, text))

    def put_expr(self, expr: str) -> None:
        self.pending.append((False, expr))

    def write_pending(self) -> None:
        """Everything written since the last statement, as one append: '%' formatting with the template
        text in the format string, so a row of the batch costs one call, not one per piece."""
        pieces, self.pending = self.pending, []
        if pieces:
            self.lines.append("    " * self.indent + f"w({_format(pieces)})")

    def hoist(self, expr: nodes.Expr, render: str) -> str:
        """A value that is the same for every profile (a segment value, a constant) renders once."""
        local = self.local("_r")
        self.hoisted.append(f"    {local} = {render}({self.expr(expr)})")
        return local

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.indent += 1
        start = len(self.lines)
        yield
        self.write_pending()
        if len(self.lines) == start:
            self.emit("pass")
        self.indent -= 1

    def local(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    # Entry point ---------------------------------------------------------------------------

    def compile(self, template: nodes.Template, source: str) -> CompiledTemplate:
        forbidden = self.dialect.first_forbidden(source)
        if forbidden >= 0:
            line, column = Lexer(source).location(forbidden)
            raise TemplateSyntaxError(
                f"{self.dialect.name} cannot store the character U+{ord(source[forbidden]):04X}",
                line,
                column,
                self.name,
            )
        mode = _mode_of(template)
        if mode == "per_lead":
            self.scope.vars["lead"] = ("lead", "lead")
            self.scope.vars["index"] = ("index", "index")
            self.emit("for index, lead in enumerate(batch):")
            with self.indented():
                end = self.block(template.body, START)
                self.emit("_flush(statements, out)")
        else:
            end = self.block(template.body, START)
            self.emit("_flush(statements, out)")
        if end.kind not in (CODE, LINE_COMMENT):
            raise TemplateSyntaxError(f"the template ends inside a {end.kind}", *_end_of(source), self.name)
        header = ["def render(ctx, batch):", "    statements = []", "    out = []", "    w = out.append"]
        header += [f"    c_{name} = ctx.get({name!r})" for name in sorted(self.names_used)]
        python_source = "\n".join([*header, *self.hoisted, *self.lines, "    return statements", ""])
        namespace = dict(self.namespace)
        exec(compile(python_source, f"<template {self.name or 'sql'}>", "exec"), namespace)
        reads_lead_id = self.reads_lead_id or self.whole_batch_uses > 0
        return CompiledTemplate(source, self.dialect, mode, python_source, namespace["render"], reads_lead_id)

    # Statements ----------------------------------------------------------------------------

    def block(self, body: Sequence[nodes.Node], state: SqlState) -> SqlState:
        items = list(body)
        k = 0
        while k < len(items):
            node = items[k]
            if isinstance(node, nodes.Text):
                result = scan(node.text, state, self.dialect)
                whole = self._whole_literal_at(items, k, result.state) if result.opens_plain_literal else None
                if whole is not None:
                    output, after = whole
                    self.text(node.text[:-1], result.boundaries)
                    self.value(output.expr, "_strlit")
                    items[k + 2] = nodes.Text(after.line, after.column + 1, after.text[1:])
                    state, k = START, k + 2
                    continue
                self.text(node.text, result.boundaries)
                state = result.state
                if node.text:
                    self.after_word = state.kind == CODE and _is_word_char(node.text[-1])
            elif isinstance(node, nodes.Output):
                self.output(node, state)
                self.after_word = False
            elif isinstance(node, nodes.For):
                self.for_(node, state)
            elif isinstance(node, nodes.If):
                self.if_(node, state)
            elif isinstance(node, nodes.AutoComma):
                if not self.scope.loops:
                    raise self.fail("{autocomma} outside a {for} loop", node)
                self.put_expr(_autocomma(*self.scope.loops[-1]))
                self.after_word = False
            elif isinstance(node, nodes.BatchIn):
                if state.kind != CODE:
                    raise self.fail(f"{{batch_in}} writes several literals and cannot go inside a {state.kind}", node)
                self.refuse_after_word(node)
                self.after_word = False
                self.reads_lead_id = self.reads_lead_id or node.path[:1] in ((), ("_id",))
                self.put_expr(f"(', '.join([_lit(_path(item, {node.path!r})) for item in batch]) or 'NULL')")
            k += 1
        return state

    def _whole_literal_at(
        self, items: list[nodes.Node], k: int, state: SqlState
    ) -> tuple[nodes.Output, nodes.Text] | None:
        """`'{$lead.X}'`: the placeholder is the whole literal, so it renders as one (NULL when missing)."""
        if k + 2 >= len(items):
            return None
        output, after = items[k + 1], items[k + 2]
        if not isinstance(output, nodes.Output) or not isinstance(after, nodes.Text):
            return None
        if scan(after.text, state, self.dialect).closes_literal_at != 1:
            return None
        return output, after

    def text(self, text: str, boundaries: list[int]) -> None:
        start = 0
        for boundary in boundaries:
            self.put_text(text[start:boundary])
            self.emit("_flush(statements, out)")
            start = boundary + 1
        self.put_text(text[start:])

    def value(self, expr: nodes.Expr, render: str) -> None:
        """Write `render(expr)`; rendered once per call of the template when it does not vary per profile."""
        if _is_constant(expr):
            self.put_expr(self.hoist(expr, render))
            return
        body = self.dialect.inline_string_body(temp := self.local("_v"))
        if body is not None and render in ("_lit", "_strlit"):
            # The common case, a str, without a call: a few calls per profile are most of the render time.
            is_text = f"type({temp} := {self.expr(expr)}) is str"
            piece = f'("\'" + {body} + "\'" if {is_text} else {render}({temp}))'
            self.text_values[piece] = (is_text, body)
            self.put_expr(piece)
        else:
            self.put_expr(f"{render}({self.expr(expr)})")

    def refuse_after_word(self, node: nodes.Node) -> None:
        if self.after_word:
            raise self.fail(
                "put a space before this value: written right after a letter or digit, its literal could take"
                " them as a prefix (E'...', N'...', X'...') or join a name",
                node,
            )

    def output(self, node: nodes.Output, state: SqlState) -> None:
        if state.kind == CODE:
            self.refuse_after_word(node)
            self.value(node.expr, "_lit")
        elif state.kind == STRING:
            if state.raw:
                raise self.fail(
                    f"a value cannot go inside a {state.prefix.lower()}'...' string: nothing can be escaped in it;"
                    " use '...' instead",
                    node,
                )
            if state.escape_pending:
                raise self.fail(
                    "the backslash right before this value would escape the value's first character;"
                    " write two backslashes for one",
                    node,
                )
            escaper = self.local("_esc")
            self.namespace[escaper] = _string_escaper(self.dialect, state.quote, state.backslashes, state.prefix)
            self.value(node.expr, escaper)
        elif state.kind == IDENTIFIER:
            if state.escape_pending:
                raise self.fail("a value cannot go right after a backslash: it would escape the first character", node)
            self.value(node.expr, "_ident")
        elif state.kind in (LINE_COMMENT, BLOCK_COMMENT):
            raise self.fail("a value cannot go inside a comment: a newline or '*/' in it would end the comment", node)
        elif state.kind == DOLLAR:
            raise self.fail("a value cannot go inside a dollar-quoted string; use '...' instead", node)
        else:
            raise self.fail(f"a value cannot go after a {state.kind}", node)

    def for_(self, node: nodes.For, state: SqlState) -> None:
        index, item, length = self.local("index"), self.local("item"), self.local("length")
        sequence = self.local("seq")
        iterable = self.expr(node.iterable)
        if iterable == "batch":
            self.whole_batch_uses -= 1  # its leads' fields are looked at one by one in the body
        self.emit(f"{sequence} = {iterable if iterable == 'batch' else f'_as_list({iterable})'}")
        self.emit(f"{length} = len({sequence})")
        loop_at = len(self.lines)
        self.emit(f"for {index}, {item} in enumerate({sequence}):")
        saved = dict(self.scope.vars)
        item_kind = "lead" if iterable == "batch" else "any"
        self.scope.vars[node.item_var] = (item, item_kind)
        if node.index_var is not None:
            self.scope.vars[node.index_var] = (index, "index")
        self.scope.loops.append((index, length))
        self.indent += 1
        before = self.after_word
        last = node.body[-1] if node.body else None
        # The body also follows itself: its start comes after its own end from the second profile on.
        self.after_word = before or (isinstance(last, nodes.Text) and _is_word_char(last.text[-1:]))
        end = self.block(node.body, state)
        self.after_word = before or self.after_word
        if len(self.lines) == loop_at + 1 and self.pending:
            # The body only writes: a list comprehension joined once beats a loop of appends.
            pieces, self.pending = self.pending, []
            self.indent -= 1
            del self.lines[loop_at:]
            self.comprehension(pieces, index, item, length, sequence)
        else:
            self.write_pending()
            if len(self.lines) == loop_at + 1:
                self.emit("pass")
            self.indent -= 1
        self.scope.loops.pop()
        self.scope.vars = saved
        if end != state:
            raise self.fail(f"the loop body leaves a {end.kind} open; close it before {{end}}", node)

    def comprehension(self, pieces: list[tuple[bool, str]], index: str, item: str, length: str, seq: str) -> None:
        """`w(''.join([row for item in seq]))`. An {autocomma} becomes a ',' in every row's format, then the
        last row is rendered again without it."""
        comma = _autocomma(index, length)
        uses_index = any(not is_text and expr != comma and re.search(rf"\b{index}\b", expr) for is_text, expr in pieces)
        loop = f"{index}, {item} in enumerate({seq})" if uses_index else f"{item} in {seq}"
        if (False, comma) not in pieces:
            self.emit(f"w(''.join([{self.row(pieces)} for {loop}]))")
            return
        rows = self.local("rows")
        self.emit(
            f"{rows} = [{self.row([(True, ',') if piece == (False, comma) else piece for piece in pieces])} for {loop}]"
        )
        self.emit(f"if {rows}:")
        self.emit(f"    {index}, {item} = {length} - 1, {seq}[-1]")
        self.emit(f"    {rows}[-1] = {self.row([piece for piece in pieces if piece != (False, comma)])}")
        self.emit(f"w(''.join({rows}))")

    def row(self, pieces: list[tuple[bool, str]]) -> str:
        """Python for one row of a loop. When the row has inlined values, a row whose values are all str
        (most) is written with their quotes in the row's own text, without two concatenations each; a row
        with any other value is written piece by piece as before."""
        text_values = [self.text_values[expr] for is_text, expr in pieces if not is_text and expr in self.text_values]
        if not text_values:
            return _format(pieces)
        quoted: list[tuple[bool, str]] = []
        for is_text, expr in pieces:
            if not is_text and expr in self.text_values:
                quoted += [(True, "'"), (False, self.text_values[expr][1]), (True, "'")]
            else:
                quoted.append((is_text, expr))
        all_text = " and ".join(test for test, _ in text_values)
        return f"({_format(quoted)} if {all_text} else {_format(pieces)})"

    def if_(self, node: nodes.If, state: SqlState) -> None:
        keyword = "if"
        before, ends = self.after_word, [] if node.else_body else [self.after_word]
        for test, body in node.branches:
            self.emit(f"{keyword} {self.expr(test)}:")
            keyword = "elif"
            with self.indented():
                self.after_word = before
                self._branch(body, state, node)
                ends.append(self.after_word)
        if node.else_body:
            self.emit("else:")
            with self.indented():
                self.after_word = before
                self._branch(node.else_body, state, node)
                ends.append(self.after_word)
        self.after_word = any(ends)

    def _branch(self, body: Sequence[nodes.Node], state: SqlState, node: nodes.If) -> None:
        end = self.block(body, state)
        if end != state:
            raise self.fail(f"a branch of this {{if}} leaves a {end.kind} open; close it in the same branch", node)

    # Expressions ---------------------------------------------------------------------------

    def expr(self, node: nodes.Expr) -> str:
        if isinstance(node, nodes.Const):
            return repr(node.value)
        if isinstance(node, nodes.Name):
            self.names_used.add(node.name)
            return f"c_{node.name}"
        if isinstance(node, nodes.Var):
            return self.var(node)
        if isinstance(node, nodes.ListExpr):
            return "(" + "".join(f"{self.expr(item)}, " for item in node.items) + ")"
        if isinstance(node, nodes.Not):
            return f"(not {self.expr(node.operand)})"
        if isinstance(node, nodes.BoolOp):
            return f"({self.expr(node.left)} {node.op} {self.expr(node.right)})"
        if isinstance(node, nodes.Compare):
            left, right = self.expr(node.left), self.expr(node.right)
            if node.op in ("==", "!="):
                return f"({left} {node.op} {right})"
            if node.op == "in":
                return f"_contains({right}, {left})"
            label = {"<": "lt", ">": "gt", "<=": "le", ">=": "ge"}[node.op]
            return f"_cmp_{label}({left}, {right})"
        if isinstance(node, nodes.Filter):
            return self.filter(node)
        raise self.fail(f"cannot compile {type(node).__name__}", node)

    def var(self, node: nodes.Var) -> str:
        if node.name not in self.scope.vars:
            where = " outside {for}" if node.name in ("lead", "index") else ""
            raise self.fail(f"undefined variable ${node.name}{where}", node)
        local, kind = self.scope.vars[node.name]
        if kind == "lead" and (not node.path or node.path[0] == "_id"):
            self.reads_lead_id = True
        elif kind == "list" and not node.path:
            self.whole_batch_uses += 1
        if not node.path:
            return local
        if kind in ("index", "list"):
            raise self.fail(f"${node.name} has no fields", node)
        if kind == "lead" and len(node.path) == 1:
            return f"{local}.get({node.path[0]!r})"
        return f"_path({local}, {node.path!r})"

    def filter(self, node: nodes.Filter) -> str:
        operand = self.expr(node.operand)
        if node.name in ("lower", "upper", "trim"):
            method = "strip" if node.name == "trim" else node.name
            temp = self.local("_v")
            return f"(None if ({temp} := {operand}) is None else _text({temp}).{method}())"
        if node.name == "default":
            temp = self.local("_v")
            return f"({temp} if ({temp} := {operand}) not in (None, '') else {self.expr(node.args[0])})"
        if node.name == "int":
            return f"_f_int({operand})"
        if node.name == "date":
            layout = node.args[0]
            if not isinstance(layout, nodes.Const) or not isinstance(layout.value, str):
                raise self.fail('the date filter takes a layout string, as date "2006-01-02"', node)
            try:
                formatter = date_filter(layout.value)
            except ValueError as error:
                raise self.fail(str(error), layout) from None
            name = self.local("_f_date")
            self.namespace[name] = formatter
            return f"{name}({operand})"
        raise self.fail(f"unknown filter '{node.name}'", node)


def _string_escaper(dialect: Dialect, quote: str, backslashes: bool, prefix: str = "") -> Callable[[Any], str]:
    escape, to_text = dialect.string_escape(prefix), dialect.to_text

    def escaper(value: Any) -> str:
        return escape(value if type(value) is str else to_text(value), quote, backslashes)

    return escaper


def _format(pieces: Sequence[tuple[bool, str]]) -> str:
    """Python for the text of pieces (template text, or a Python expression giving text), built in one
    step: an f-string, or '%' formatting where an expression cannot go inside an f-string (Python 3.11
    refuses backslashes and '#' there)."""
    if all(is_text for is_text, _ in pieces):
        return repr("".join(text for _, text in pieces))
    if len(pieces) == 1:
        return pieces[0][1]
    if not any(not is_text and ("\\" in expr or "#" in expr or '"""' in expr) for is_text, expr in pieces):
        return 'f"""' + "".join(_fstring_text(text) if is_text else f"{{({text})}}" for is_text, text in pieces) + '"""'
    fmt = "".join(text.replace("%", "%%") if is_text else "%s" for is_text, text in pieces)
    args = "".join(f"{expr}, " for is_text, expr in pieces if not is_text)
    return f"{fmt!r} % ({args})"


def _fstring_text(text: str) -> str:
    """Template text as the literal part of an f\"\"\"...\"\"\" string: escapes, quotes and braces escaped."""
    escaped = text.encode("unicode_escape").decode("ascii")
    return escaped.replace('"', '\\"').replace("{", "{{").replace("}", "}}")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in ("_", "$")


def _autocomma(index: str, length: str) -> str:
    return f"(',' if {index} + 1 < {length} else '')"


def _is_constant(expr: nodes.Expr) -> bool:
    """No variable in it: the same value for every profile of a render."""
    if isinstance(expr, nodes.Var):
        return False
    if isinstance(expr, nodes.Compare | nodes.BoolOp):
        return _is_constant(expr.left) and _is_constant(expr.right)
    if isinstance(expr, nodes.Not):
        return _is_constant(expr.operand)
    if isinstance(expr, nodes.Filter):
        return _is_constant(expr.operand) and all(_is_constant(arg) for arg in expr.args)
    if isinstance(expr, nodes.ListExpr):
        return all(_is_constant(item) for item in expr.items)
    return True


def _mode_of(template: nodes.Template) -> Mode:
    has_batch, uses_lead = False, False

    def walk(body: Sequence[nodes.Node]) -> None:
        nonlocal has_batch, uses_lead
        for node in body:
            if isinstance(node, nodes.For | nodes.BatchIn):
                has_batch = True
            elif isinstance(node, nodes.If):
                uses_lead = uses_lead or any(_mentions_lead(test) for test, _ in node.branches)
                for _, branch in node.branches:
                    walk(branch)
                walk(node.else_body)
            elif isinstance(node, nodes.Output):
                uses_lead = uses_lead or _mentions_lead(node.expr)

    walk(template.body)
    if has_batch:
        return "batch"
    return "per_lead" if uses_lead else "once"


def _mentions_lead(expr: nodes.Expr) -> bool:
    if isinstance(expr, nodes.Var):
        return expr.name in ("lead", "index")
    children: list[nodes.Expr] = []
    if isinstance(expr, nodes.Compare | nodes.BoolOp):
        children = [expr.left, expr.right]
    elif isinstance(expr, nodes.Not):
        children = [expr.operand]
    elif isinstance(expr, nodes.Filter):
        children = [expr.operand, *expr.args]
    elif isinstance(expr, nodes.ListExpr):
        children = list(expr.items)
    return any(_mentions_lead(child) for child in children)


def _end_of(source: str) -> tuple[int, int]:
    lines = source.split("\n")
    return len(lines), len(lines[-1]) + 1
