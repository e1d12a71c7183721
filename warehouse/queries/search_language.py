"""The explorer's search language: text -> syntax tree (:func:`parse`) -> ClickHouse condition (:func:`compile_query`).

Pure: no I/O. User text never becomes SQL: every value and every metadata key travels as a
``{name:Type}`` parameter bound by ClickHouse itself; the only names spliced into SQL are
column names taken from the table map (warehouse/tables.py), never from the query.

Syntax (Lucene-like, as in Kibana and Grafana Explore)::

    payment "card declined"              words and phrases in the message (implicit AND)
    service:payments level:"error"       a field equals a value (exact, case-sensitive)
    -level:debug   NOT level:debug       negation
    status_code:>=500  response_time_ms:<20.5   comparisons on numeric fields
    service:pay*   attr.user:*           wildcards (``*`` alone: the field has a value)
    attr.order.id:42                     keys inside the event's metadata JSON
    (a OR b) c                           OR binds looser than AND; NOT binds tightest

A bare word matches a whole word of the message (the token index: ``hasToken``); a phrase, a word
holding punctuation, or a word with ``*`` matches anywhere in the message (the ngram index:
``LIKE``). Both compare ``lower(message)`` with ``lower(value)``, the expression the indexes of
migration 0001 are built on, so ASCII letters match in any case. A backslash makes the next
character literal (``\\*``, ``\\"``, ``\\:``, ``\\(``); ``AND``, ``OR`` and ``NOT`` are keywords
only in capitals.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from warehouse.tables import ColumnType, Table

ATTR_PREFIX = "attr."
MESSAGE = "message"
METADATA = "metadata"
# Columns the search box does not offer: retention is internal, and times (the event's, which the
# range picker sets, and secondary ones such as processed_at) are not in the language (no column type
# of theirs is in _KIND_OF).
_NOT_SEARCHABLE = frozenset({"retention_days"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT64 = 2**63
_INT64_DIGITS = 19
# Parentheses and negations nest by recursion in the parser and the compiler; a few levels are all a person
# writes, and a bound keeps a hostile query (5,000 '(') a syntax error instead of a RecursionError.
MAX_NESTING = 64


# ---------------------------------------------------------------------------------------------- errors


class SearchError(ValueError):
    """The query cannot be run; ``position`` is the 0-based offset in the query text it points at."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.message, "position": self.position}


class SearchSyntaxError(SearchError):
    def __init__(self, expected: str, position: int, found: str) -> None:
        super().__init__(f"expected {expected}, found {found}", position)
        self.expected = expected


class UnknownFieldError(SearchError):
    def __init__(self, name: str, position: int, valid: list[str]) -> None:
        super().__init__(f"unknown field {name!r}; fields are: {', '.join(valid)}", position)
        self.field = name
        self.valid = valid


# ---------------------------------------------------------------------------------------------- syntax tree


class Op(StrEnum):
    EQ = ":"
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


@dataclass(frozen=True)
class Pattern:
    """A value, split at its unescaped ``*``: ``pay*`` is ("pay", ""), ``pay\\*`` is ("pay*",)."""

    parts: tuple[str, ...]

    @property
    def wildcard(self) -> bool:
        return len(self.parts) > 1

    @property
    def anything(self) -> bool:
        """Only wildcards: ``field:*`` asks whether the field has a value."""
        return self.wildcard and not any(self.parts)

    @property
    def literal(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Text:
    """A bare word or a quoted phrase, searched in the message."""

    pattern: Pattern
    phrase: bool
    position: int


@dataclass(frozen=True)
class Match:
    field: str
    op: Op
    pattern: Pattern
    position: int
    quoted: bool = False


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Text | Match | Not | And | Or


def leaves(node: Node) -> Iterator[Text | Match]:
    match node:
        case Not(operand):
            yield from leaves(operand)
        case And(operands) | Or(operands):
            for operand in operands:
                yield from leaves(operand)
        case _:
            yield node


# ---------------------------------------------------------------------------------------------- lexer


class _Kind(StrEnum):
    LPAREN = "'('"
    RPAREN = "')'"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    MINUS = "'-'"
    TERM = "a search term"
    END = "the end of the query"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    position: int
    term: Text | Match | None = None


_PUNCTUATION = frozenset('()"')
_KEYWORDS = {"AND": _Kind.AND, "OR": _Kind.OR, "NOT": _Kind.NOT}


def _ends_word(char: str) -> bool:
    return char.isspace() or char in _PUNCTUATION


def _pattern(chars: list[tuple[str, bool]], wildcards: bool) -> Pattern:
    parts, current = [], []
    for char, escaped in chars:
        if char == "*" and wildcards and not escaped:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return Pattern(tuple(parts))


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def tokens(self) -> list[_Token]:
        out = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind is _Kind.END:
                return out

    def _next(self) -> _Token:
        text = self.text
        while self.i < len(text) and text[self.i].isspace():
            self.i += 1
        start = self.i
        if start >= len(text):
            return _Token(_Kind.END, start)
        char = text[start]
        if char in "()":
            self.i += 1
            return _Token(_Kind.LPAREN if char == "(" else _Kind.RPAREN, start)
        if char == "-":
            self.i += 1
            following = text[self.i] if self.i < len(text) else ""
            if not following or following.isspace() or following == ")":
                raise SearchSyntaxError("a term after '-'", self.i, _describe(following))
            return _Token(_Kind.MINUS, start)
        if char == '"':
            return _Token(_Kind.TERM, start, Text(_pattern(self._quoted(), wildcards=False), True, start))
        return self._word(start)

    def _quoted(self) -> list[tuple[str, bool]]:
        """The characters between double quotes (self.i is on the opening one); none is a wildcard."""
        opening = self.i
        self.i += 1
        chars: list[tuple[str, bool]] = []
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "\\" and self.i + 1 < len(self.text):
                chars.append((self.text[self.i + 1], True))
                self.i += 2
            elif char == '"':
                self.i += 1
                return chars
            else:
                chars.append((char, False))
                self.i += 1
        raise SearchSyntaxError(f"a closing '\"' for the quote opened at position {opening}", len(self.text), "the end")

    def _bare(self) -> list[tuple[str, bool]]:
        """Characters up to a delimiter; a backslash escapes the next one. Stops after an unescaped ':'."""
        chars: list[tuple[str, bool]] = []
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "\\" and self.i + 1 < len(self.text):
                chars.append((self.text[self.i + 1], True))
                self.i += 2
                continue
            if _ends_word(char):
                break
            chars.append((char, False))
            self.i += 1
            if char == ":":
                break
        return chars

    def _word(self, start: int) -> _Token:
        chars = self._bare()
        prefix = "".join(c for c, _ in chars[:-1])
        if chars and chars[-1] == (":", False) and _NAME.fullmatch(prefix) and not any(e for _, e in chars[:-1]):
            return self._match(prefix, start)
        while self.i < len(self.text) and not _ends_word(self.text[self.i]):
            chars.extend(self._bare())  # a ':' that does not follow a field name is text (12:30:01)
        word = "".join(c for c, _ in chars)
        if word in _KEYWORDS and not any(e for _, e in chars):
            return _Token(_KEYWORDS[word], start)
        return _Token(_Kind.TERM, start, Text(_pattern(chars, wildcards=True), False, start))

    def _match(self, name: str, start: int) -> _Token:
        op = Op.EQ
        for candidate in (Op.GE, Op.LE, Op.GT, Op.LT):
            if self.text.startswith(candidate.value, self.i):
                op = candidate
                self.i += len(candidate.value)
                break
        value_at = self.i
        if self.text.startswith('"', self.i):
            pattern, quoted = _pattern(self._quoted(), wildcards=False), True
        else:
            chars = []
            while self.i < len(self.text) and not _ends_word(self.text[self.i]):
                chars.extend(self._bare())
            if not chars:
                found = self.text[self.i] if self.i < len(self.text) else ""
                raise SearchSyntaxError(f"a value after '{name}:'", value_at, _describe(found))
            pattern, quoted = _pattern(chars, wildcards=True), False
        return _Token(_Kind.TERM, start, Match(name, op, pattern, start, quoted))


def _describe(char: str) -> str:
    if not char:
        return "the end of the query"
    return "a space" if char.isspace() else repr(char)


# ---------------------------------------------------------------------------------------------- parser


class _Parser:
    """query := or END;  or := and (OR and)*;  and := unary ([AND] unary)*;  unary := (NOT|-) unary | primary;
    primary := '(' or ')' | term."""

    _STARTS_UNARY = frozenset({_Kind.LPAREN, _Kind.NOT, _Kind.MINUS, _Kind.TERM})

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.k = 0
        self.depth = 0

    def _nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SearchSyntaxError(f"at most {MAX_NESTING} nested '(', NOT or '-'", token.position, "more")

    @property
    def peek(self) -> _Token:
        return self.tokens[self.k]

    def _take(self) -> _Token:
        token = self.tokens[self.k]
        self.k += 1
        return token

    def query(self) -> Node:
        node = self._or()
        if self.peek.kind is not _Kind.END:
            expected = "OR, AND, a term or the end of the query"
            raise SearchSyntaxError(expected, self.peek.position, self.peek.kind.value)
        return node

    def _or(self) -> Node:
        operands = [self._and()]
        while self.peek.kind is _Kind.OR:
            self._take()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Node:
        operands = [self._unary()]
        while True:
            if self.peek.kind is _Kind.AND:
                self._take()
            elif self.peek.kind not in self._STARTS_UNARY:
                break
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self) -> Node:
        if self.peek.kind in (_Kind.NOT, _Kind.MINUS):
            self._nest(self._take())
            node = Not(self._unary())
            self.depth -= 1
            return node
        return self._primary()

    def _primary(self) -> Node:
        token = self._take()
        if token.kind is _Kind.TERM:
            assert token.term is not None
            return token.term
        if token.kind is _Kind.LPAREN:
            self._nest(token)
            node = self._or()
            self.depth -= 1
            closing = self._take()
            if closing.kind is not _Kind.RPAREN:
                raise SearchSyntaxError(
                    f"')' to close the '(' at position {token.position}", closing.position, closing.kind.value
                )
            return node
        raise SearchSyntaxError("a search term, '(', NOT or '-'", token.position, token.kind.value)


def parse(text: str) -> Node | None:
    """The syntax tree of ``text``; None for a blank query (everything matches)."""
    tokens = _Lexer(text).tokens()
    if tokens[0].kind is _Kind.END:
        return None
    return _Parser(tokens).query()


# ---------------------------------------------------------------------------------------------- fields


class FieldKind(StrEnum):
    MESSAGE = "message"  # searched with the message indexes
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    UUID = "uuid"


_KIND_OF = {
    ColumnType.UUID: FieldKind.UUID,
    ColumnType.STRING: FieldKind.TEXT,
    ColumnType.JSON: FieldKind.TEXT,
    ColumnType.IP: FieldKind.TEXT,
    ColumnType.INT: FieldKind.NUMBER,
    ColumnType.NULLABLE_INT: FieldKind.NUMBER,
    ColumnType.FLOAT: FieldKind.NUMBER,
    ColumnType.NULLABLE_FLOAT: FieldKind.NUMBER,
    ColumnType.BOOL: FieldKind.BOOL,
}


@dataclass(frozen=True)
class SearchField:
    name: str
    kind: FieldKind
    nullable: bool = False


@dataclass(frozen=True)
class Fields:
    """What a query over one table may name: its columns, and ``attr.<key>`` when it has metadata."""

    table: str
    columns: dict[str, SearchField]
    has_attrs: bool

    @classmethod
    def of(cls, table: Table) -> Fields:
        columns = {}
        for column in table.columns:
            if column.name in _NOT_SEARCHABLE or column.type not in _KIND_OF:
                continue
            kind = FieldKind.MESSAGE if column.name == MESSAGE else _KIND_OF[column.type]
            nullable = column.type in (ColumnType.NULLABLE_INT, ColumnType.NULLABLE_FLOAT)
            columns[column.name] = SearchField(column.name, kind, nullable)
        return cls(table.name, columns, METADATA in table.column_names)

    @property
    def names(self) -> list[str]:
        return sorted(self.columns) + ([f"{ATTR_PREFIX}<key>"] if self.has_attrs else [])

    def attr_keys(self, name: str) -> tuple[str, ...] | None:
        """The key path of an ``attr.`` field (``attr.a.b`` -> ("a", "b")), None for a column."""
        if self.has_attrs and name.startswith(ATTR_PREFIX) and len(name) > len(ATTR_PREFIX):
            return tuple(name[len(ATTR_PREFIX) :].split("."))
        return None

    def check(self, name: str, position: int = 0) -> None:
        if name not in self.columns and self.attr_keys(name) is None:
            raise UnknownFieldError(name, position, self.names)


# ---------------------------------------------------------------------------------------------- SQL


@dataclass(frozen=True)
class Condition:
    """A boolean ClickHouse expression and the parameters it binds."""

    sql: str
    params: dict[str, Any]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(pattern: Pattern, anchored: bool) -> str:
    """LIKE pattern of a value: ``*`` -> ``%``, everything else literal; unanchored matches anywhere."""
    if anchored:
        return "%".join(escape_like(part) for part in pattern.parts)
    parts = list(pattern.parts)
    while len(parts) > 1 and not parts[0]:
        parts.pop(0)
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return "%" + "%".join(escape_like(part) for part in parts) + "%"


def _is_token(text: str) -> bool:
    """Whether ClickHouse's tokenizer sees ``text`` as one token (ASCII alphanumerics and non-ASCII bytes)."""
    return bool(text) and all(c.isalnum() or not c.isascii() for c in text)


@dataclass
class Params:
    """Allocates parameter names; every value the query binds goes through :meth:`bind`."""

    prefix: str = "s"
    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, type_: str) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


def attr_value_sql(keys: tuple[str, ...], params: Params) -> str:
    """The text of a metadata value: a JSON string unquoted, anything else as its JSON (42, true, {...})."""
    path = ", ".join(params.bind(key, "String") for key in keys)
    return (
        f"if(JSONType({METADATA}, {path}) = 'String', JSONExtractString({METADATA}, {path}), "
        f"JSONExtractRaw({METADATA}, {path}))"
    )


def attr_present_sql(keys: tuple[str, ...], params: Params) -> str:
    path = ", ".join(params.bind(key, "String") for key in keys)
    return f"JSONHas({METADATA}, {path})"


_SQL_OPS = {Op.EQ: "=", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}


class _Compiler:
    def __init__(self, fields: Fields, params: Params) -> None:
        self.fields = fields
        self.params = params

    def node(self, node: Node) -> str:
        match node:
            case Not(operand):
                return f"NOT ({self.node(operand)})"
            case And(operands):
                return "(" + " AND ".join(self.node(o) for o in operands) + ")"
            case Or(operands):
                return "(" + " OR ".join(self.node(o) for o in operands) + ")"
            case Text():
                return self.message(node.pattern, node.phrase)
            case Match():
                return self.match(node)
        raise AssertionError(f"unhandled node {node!r}")

    def message(self, pattern: Pattern, phrase: bool) -> str:
        if not phrase and not pattern.wildcard and _is_token(pattern.literal):
            return f"hasToken(lower({MESSAGE}), lower({self.params.bind(pattern.literal, 'String')}))"
        like = self.params.bind(like_pattern(pattern, anchored=False), "String")
        return f"lower({MESSAGE}) LIKE lower({like})"

    def match(self, node: Match) -> str:
        self.fields.check(node.field, node.position)
        keys = self.fields.attr_keys(node.field)
        if keys is not None and node.field not in self.fields.columns:
            return self.attr(node, keys)
        spec = self.fields.columns[node.field]
        if spec.kind is FieldKind.MESSAGE:
            self._no_comparison(node, "the message")
            return self.message(node.pattern, phrase=node.quoted)
        if spec.kind is FieldKind.NUMBER:
            return self.number(node, spec)
        self._no_comparison(node, f"{node.field} ({spec.kind.value})")
        if node.pattern.anything:
            return f"{node.field} != ''" if spec.kind is FieldKind.TEXT else "1"
        if spec.kind is FieldKind.TEXT:
            if node.pattern.wildcard:
                return f"{node.field} LIKE {self.params.bind(like_pattern(node.pattern, anchored=True), 'String')}"
            return f"{node.field} = {self.params.bind(node.pattern.literal, 'String')}"
        self._no_wildcard(node, spec.kind.value)
        if spec.kind is FieldKind.BOOL:
            value = node.pattern.literal.lower()
            if value not in ("true", "false"):
                raise SearchError(f"{node.field} is true or false, not {node.pattern.literal!r}", node.position)
            return f"{node.field} = {self.params.bind(value == 'true', 'Bool')}"
        try:
            event_id = uuid.UUID(node.pattern.literal)
        except ValueError:
            raise SearchError(f"{node.field} takes a UUID, not {node.pattern.literal!r}", node.position) from None
        return f"{node.field} = {self.params.bind(str(event_id), 'UUID')}"

    def number(self, node: Match, spec: SearchField) -> str:
        if node.pattern.anything:
            return f"isNotNull({node.field})" if spec.nullable else "1"
        self._no_wildcard(node, "numeric")
        value, type_ = self._number_value(node)
        comparison = f"{node.field} {_SQL_OPS[node.op]} {self.params.bind(value, type_)}"
        # NULL compares as NULL, which NOT would keep NULL: a missing value simply does not match.
        return f"ifNull({comparison}, 0)" if spec.nullable else comparison

    def attr(self, node: Match, keys: tuple[str, ...]) -> str:
        if node.pattern.anything:
            return attr_present_sql(keys, self.params)
        value = attr_value_sql(keys, self.params)
        if node.op is not Op.EQ:
            number, type_ = self._number_value(node)
            return f"ifNull(toFloat64OrNull({value}) {_SQL_OPS[node.op]} {self.params.bind(number, type_)}, 0)"
        if node.pattern.wildcard:
            return f"{value} LIKE {self.params.bind(like_pattern(node.pattern, anchored=True), 'String')}"
        return f"{value} = {self.params.bind(node.pattern.literal, 'String')}"

    def _number_value(self, node: Match) -> tuple[int | float, str]:
        self._no_wildcard(node, "numeric")
        text = node.pattern.literal
        if not _NUMBER.fullmatch(text):
            raise SearchError(f"{node.field}{node.op.value} needs a number, not {text!r}", node.position)
        # More digits than an Int64 holds are read as a float: int() refuses over 4,300 digits anyway.
        if re.fullmatch(r"[+-]?\d+", text) and len(text.lstrip("+-")) <= _INT64_DIGITS:
            number = int(text)
            if -_INT64 <= number < _INT64:
                return number, "Int64"
        number = float(text)
        if not math.isfinite(number):
            raise SearchError(f"{node.field}{node.op.value} needs a finite number, not {text[:40]!r}", node.position)
        return number, "Float64"

    @staticmethod
    def _no_comparison(node: Match, what: str) -> None:
        if node.op is not Op.EQ:
            raise SearchError(f"{node.op.value} compares numbers; {what} is not numeric", node.position)

    @staticmethod
    def _no_wildcard(node: Match, what: str) -> None:
        if node.pattern.wildcard:
            raise SearchError(f"wildcards apply to text; {node.field} is {what}", node.position)


def compile_query(node: Node | None, fields: Fields, params: Params | None = None) -> Condition:
    """The WHERE condition of a parsed query; raises :class:`SearchError` for fields or values it cannot take."""
    params = params if params is not None else Params()
    if node is None:
        return Condition("1", params.values)
    return Condition(_Compiler(fields, params).node(node), params.values)


def only_fields(node: Node | None, allowed: frozenset[str]) -> bool:
    """Whether the query filters only on these columns (so a rollup keyed on them can answer it)."""
    return node is None or all(isinstance(leaf, Match) and leaf.field in allowed for leaf in leaves(node))
