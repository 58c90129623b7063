"""Tokens -> syntax tree. Every error goes through `fail` and names line, column and what was expected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from sqlsync.template import nodes
from sqlsync.template.errors import TemplateSyntaxError
from sqlsync.template.lexer import (
    EOF,
    NAME,
    NUMBER,
    OP,
    STRING,
    TAG_BEGIN,
    TAG_END,
    TEXT,
    VAR,
    Lexer,
    Token,
)

BUILTIN_NAMES = frozenset({"segment_id", "segment_name", "event_id", "event_time", "account_id"})
FILTERS = {"lower": 0, "upper": 0, "trim": 0, "default": 1, "int": 0, "date": 1}
_CONSTANTS = {"true": True, "false": False, "null": None}
_COMPARE_OPS = {"==", "!=", "<", ">", "<=", ">="}
_KEYWORDS = frozenset({"and", "or", "not", "in"})
# Tags that close or continue the block being parsed.
_BLOCK_ENDS = frozenset({"end", "/for", "/if", "else", "elseif"})


class TokenStream:
    def __init__(self, tokens: Iterator[Token]) -> None:
        self._tokens = tokens
        self.current = next(tokens)
        self._peeked: Token | None = None

    def next(self) -> Token:
        token = self.current
        if self._peeked is not None:
            self.current, self._peeked = self._peeked, None
        elif token.type != EOF:
            self.current = next(self._tokens)
        return token

    def look(self) -> Token:
        """The token after the current one."""
        if self._peeked is None:
            self._peeked = next(self._tokens)
        return self._peeked

    def test(self, type_: str, value: str | None = None) -> bool:
        return self.current.type == type_ and (value is None or self.current.value == value)

    def skip_if(self, type_: str, value: str | None = None) -> bool:
        if self.test(type_, value):
            self.next()
            return True
        return False


def describe(token: Token) -> str:
    if token.type == EOF:
        return "end of template"
    if token.type == TAG_END:
        return "'}'"
    if token.type == TEXT:
        return "text"
    if token.type == STRING:
        return f'string "{token.value}"'
    if token.type == VAR:
        return f"'${token.value}'"
    return f"'{token.value}'"


class Parser:
    def __init__(self, source: str, name: str | None = None) -> None:
        self.name = name
        self.stream = TokenStream(Lexer(source, name).tokenize())

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        token = token or self.stream.current
        raise TemplateSyntaxError(message, token.line, token.column, self.name)

    def expect(self, type_: str, value: str | None = None, what: str | None = None) -> Token:
        if not self.stream.test(type_, value):
            wanted = what or (f"'{value}'" if value else type_)
            self.fail(f"expected {wanted}, got {describe(self.stream.current)}")
        return self.stream.next()

    # Blocks ------------------------------------------------------------------------------

    def parse(self) -> nodes.Template:
        body, end = self.parse_block()
        if end is not None:
            self.fail(f"'{{{end.value}}}' without an open {{for}} or {{if}}", end)
        return nodes.Template(1, 1, body)

    def parse_block(self) -> tuple[tuple[nodes.Node, ...], Token | None]:
        """Nodes up to EOF or a block-ending tag; returns that tag's name token (after its '{')."""
        body: list[nodes.Node] = []
        stream = self.stream
        while True:
            token = stream.current
            if token.type == EOF:
                return tuple(body), None
            if token.type == TEXT:
                body.append(nodes.Text(token.line, token.column, stream.next().value))
                continue
            begin = self.expect(TAG_BEGIN)
            head = stream.current
            if head.type == NAME and head.value in _BLOCK_ENDS:
                return tuple(body), head
            body.append(self.parse_tag(begin))

    def parse_tag(self, begin: Token) -> nodes.Node:
        stream = self.stream
        head = stream.current
        if head.type == NAME:
            word = head.value
            if word == "for":
                return self.parse_for(begin)
            if word == "if":
                return self.parse_if(begin)
            if word == "autocomma":
                stream.next()
                self.expect(TAG_END)
                return nodes.AutoComma(begin.line, begin.column)
            if word == "batch_in":
                stream.next()
                field = self.expect(STRING, what='a field name in double quotes, as {batch_in "CustomID"}')
                self.expect(TAG_END)
                if not field.value:
                    self.fail("batch_in needs a field name", field)
                return nodes.BatchIn(begin.line, begin.column, tuple(field.value.split(".")))
            if word in ("ldelim", "rdelim"):
                stream.next()
                self.expect(TAG_END)
                return nodes.Text(begin.line, begin.column, "{" if word == "ldelim" else "}")
            if word not in BUILTIN_NAMES and word not in _CONSTANTS:
                known = ", ".join(sorted(BUILTIN_NAMES | {"for", "if", "autocomma", "batch_in"}))
                self.fail(f"unknown tag '{word}'; expected a $variable or one of: {known}", head)
        expr = self.parse_expression()
        if not isinstance(expr, nodes.Var | nodes.Name | nodes.Filter | nodes.Const):
            self.fail("a value tag prints one value; use {if ...} for conditions", head)
        self.expect(TAG_END)
        return nodes.Output(begin.line, begin.column, expr)

    def parse_for(self, begin: Token) -> nodes.For:
        stream = self.stream
        stream.next()
        first = self.expect(VAR, what="a loop variable such as $lead")
        index_var: str | None = None
        item_var = first.value
        if stream.skip_if(OP, ","):
            index_var = item_var
            item_var = self.expect(VAR, what="the item variable after ','").value
        if index_var == item_var:
            self.fail("the index and item variables must differ", first)
        self.expect(OP, "=", what="'=' as in {for $index, $lead = $batch}")
        iterable = self.parse_expression()
        self.expect(TAG_END)
        body, end = self.parse_block()
        self.close_block(end, "for", begin)
        return nodes.For(begin.line, begin.column, index_var, item_var, iterable, body)

    def parse_if(self, begin: Token) -> nodes.If:
        stream = self.stream
        stream.next()
        test = self.parse_expression()
        self.expect(TAG_END)
        branches: list[tuple[nodes.Expr, tuple[nodes.Node, ...]]] = []
        else_body: tuple[nodes.Node, ...] = ()
        while True:
            body, end = self.parse_block()
            if end is None:
                self.fail(f"{{if}} opened at line {begin.line}, column {begin.column} is never closed")
            branches.append((test, body))
            if end.value == "elseif":
                stream.next()
                test = self.parse_expression()
                self.expect(TAG_END)
                continue
            if end.value == "else":
                stream.next()
                self.expect(TAG_END)
                else_body, end = self.parse_block()
                if end is not None and end.value in ("else", "elseif"):
                    self.fail(f"'{{{end.value}}}' after {{else}}", end)
            self.close_block(end, "if", begin)
            return nodes.If(begin.line, begin.column, tuple(branches), else_body)

    def close_block(self, end: Token | None, kind: str, begin: Token) -> None:
        if end is None:
            self.fail(f"{{{kind}}} opened at line {begin.line}, column {begin.column} is never closed")
        if end.value not in ("end", f"/{kind}"):
            self.fail(f"expected {{end}} to close {{{kind}}}, got '{{{end.value}}}'", end)
        self.stream.next()
        self.expect(TAG_END)

    # Expressions ---------------------------------------------------------------------------

    def parse_expression(self) -> nodes.Expr:
        return self.parse_or()

    def _keyword(self, *words: str) -> Token | None:
        current = self.stream.current
        if (current.type == NAME and current.value in words) or (current.type == OP and current.value in words):
            return self.stream.next()
        return None

    def parse_or(self) -> nodes.Expr:
        left = self.parse_and()
        while (op := self._keyword("or", "||")) is not None:
            left = nodes.BoolOp(op.line, op.column, "or", left, self.parse_and())
        return left

    def parse_and(self) -> nodes.Expr:
        left = self.parse_not()
        while (op := self._keyword("and", "&&")) is not None:
            left = nodes.BoolOp(op.line, op.column, "and", left, self.parse_not())
        return left

    def parse_not(self) -> nodes.Expr:
        if (op := self._keyword("not", "!")) is not None:
            return nodes.Not(op.line, op.column, self.parse_not())
        return self.parse_compare()

    def parse_compare(self) -> nodes.Expr:
        left = self.parse_filtered()
        current = self.stream.current
        if (current.type == OP and current.value in _COMPARE_OPS) or (current.type == NAME and current.value == "in"):
            self.stream.next()
            right = self.parse_filtered()
            return nodes.Compare(current.line, current.column, current.value, left, right)
        if current.type == OP and current.value == "=":
            self.fail("'=' is not a comparison; use '=='")
        return left

    def parse_filtered(self) -> nodes.Expr:
        expr = self.parse_primary()
        while self.stream.skip_if(OP, "|"):
            name = self.expect(NAME, what="a filter name")
            if name.value not in FILTERS:
                self.fail(f"unknown filter '{name.value}'; expected one of: {', '.join(sorted(FILTERS))}", name)
            args = tuple(self.parse_primary() for _ in range(FILTERS[name.value]))
            expr = nodes.Filter(name.line, name.column, name.value, expr, args)
        return expr

    def parse_primary(self) -> nodes.Expr:
        stream = self.stream
        token = stream.current
        if token.type == VAR:
            stream.next()
            path: list[str] = []
            while stream.test(OP, ".") or stream.test(OP, "["):
                if stream.next().value == ".":
                    path.append(self.expect(NAME, what="a field name after '.'").value)
                else:
                    path.append(self.expect(STRING, what='a quoted field name, as $lead["first name"]').value)
                    self.expect(OP, "]")
            return nodes.Var(token.line, token.column, token.value, tuple(path))
        if token.type == NAME and token.value in _CONSTANTS:
            stream.next()
            return nodes.Const(token.line, token.column, _CONSTANTS[token.value])
        if token.type == NAME and token.value in BUILTIN_NAMES:
            stream.next()
            return nodes.Name(token.line, token.column, token.value)
        if token.type == STRING:
            stream.next()
            return nodes.Const(token.line, token.column, token.value)
        if token.type == NUMBER:
            stream.next()
            number = float(token.value) if "." in token.value else int(token.value)
            return nodes.Const(token.line, token.column, number)
        if stream.skip_if(OP, "("):
            inner = self.parse_expression()
            self.expect(OP, ")")
            return inner
        if stream.skip_if(OP, "["):
            items: list[nodes.Expr] = []
            if not stream.test(OP, "]"):
                items.append(self.parse_expression())
                while stream.skip_if(OP, ","):
                    items.append(self.parse_expression())
            self.expect(OP, "]")
            return nodes.ListExpr(token.line, token.column, tuple(items))
        if token.type == NAME and token.value not in _KEYWORDS:
            self.fail(f"unknown name '{token.value}'; variables start with '$', as $lead.{token.value}")
        self.fail(f"expected a value, got {describe(token)}")


def parse(source: str, name: str | None = None) -> nodes.Template:
    return Parser(source, name).parse()
