"""The search query language: a sans-IO parser from a Gmail-style string to a syntax tree.

::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*          (juxtaposition is AND)
    unary    := "-" unary | "(" or_expr ")" | operator | word | "phrase"
    operator := name ":" (word | "phrase")      (name one of OPERATORS, any case)

A word that merely contains a colon (``re:``, ``10:30``, a URL) is text. Errors are
:class:`QuerySyntaxError` with the 1-based position of the problem; the planner checks operator values.
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxsync.errors import InvalidRequest

OPERATORS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "filename", "has", "is", "in", "label",
        "before", "after", "older_than", "newer_than", "larger", "smaller",
    }
)  # fmt: skip
MAX_DEPTH = 32
MAX_TERMS = 64


class QuerySyntaxError(InvalidRequest):
    """A query the parser cannot read; ``position`` is 1-based (0 when it is the whole query)."""

    def __init__(self, position: int, problem: str) -> None:
        where = f"at position {position}: " if position else ""
        super().__init__(f"search_query_native {where}{problem}")
        self.position = position
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    phrase: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    value: str
    pos: int
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    item: Node
    pos: int


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node = Text | Operator | Not | And | Or


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(" ")" "-" "or" "and" "text" "phrase" "op"
    value: str
    pos: int  # 0-based
    name: str = ""
    phrase: bool = False


def _phrase(query: str, start: int) -> tuple[str, int]:
    """The text of a quoted phrase starting at ``start`` (the quote), and the index after it."""
    end = query.find('"', start + 1)
    if end < 0:
        raise QuerySyntaxError(start + 1, 'the quote " is never closed')
    return query[start + 1 : end], end + 1


def tokenize(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Token(c, c, i))
            i += 1
        elif c == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
            out.append(_Token("-", c, i))
            i += 1
        elif c == '"':
            value, i_next = _phrase(query, i)
            out.append(_Token("phrase", value, i))
            i = i_next
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in '()"':
                i += 1
            word = query[start:i]
            name, colon, rest = word.partition(":")
            if colon and name.lower() in OPERATORS:
                if not rest and i < n and query[i] == '"':
                    value, i = _phrase(query, i)
                    out.append(_Token("op", value, start, name.lower(), True))
                    continue
                if not rest:
                    raise QuerySyntaxError(start + 1, f"{name}: needs a value")
                out.append(_Token("op", rest, start, name.lower()))
            elif word == "OR":
                out.append(_Token("or", word, start))
            elif word == "AND":
                out.append(_Token("and", word, start))
            else:
                out.append(_Token("text", word, start))
    return out


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.at = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def end_pos(self) -> int:
        return len(self.query) + 1

    def parse(self) -> Node:
        if not self.tokens:
            raise QuerySyntaxError(0, "is empty")
        node = self.or_expr()
        extra = self.peek()
        if extra is not None:  # only a stray ")" stops or_expr early
            raise QuerySyntaxError(extra.pos + 1, "this ) has no ( to close")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "or":
            self.at += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "or", "and"):
                raise QuerySyntaxError(t.pos + 1, "OR needs a term after it")
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items: list[Node] = []
        while (t := self.peek()) is not None and t.kind not in (")", "or"):
            if t.kind == "and":
                self.at += 1
                nxt = self.peek()
                if not items or nxt is None or nxt.kind in (")", "or", "and"):
                    raise QuerySyntaxError(t.pos + 1, "AND needs a term on each side")
                continue
            items.append(self.unary())
        if not items:
            t = self.peek()
            pos = t.pos + 1 if t is not None else self.end_pos()
            if t is not None and t.kind == "or":
                raise QuerySyntaxError(pos, "OR needs a term before it")
            raise QuerySyntaxError(pos, "a term is missing here")
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        t = self.tokens[self.at]
        self.at += 1
        if t.kind == "-":
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "or", "and"):
                raise QuerySyntaxError(t.pos + 1, "- needs a term after it")
            return Not(self.unary(), t.pos + 1)
        if t.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(t.pos + 1, f"more than {MAX_DEPTH} nested parentheses")
            nxt = self.peek()
            if nxt is not None and nxt.kind == ")":
                raise QuerySyntaxError(t.pos + 1, "the parentheses are empty")
            node = self.or_expr()
            close = self.peek()
            if close is None or close.kind != ")":
                raise QuerySyntaxError(t.pos + 1, "this ( is never closed")
            self.at += 1
            self.depth -= 1
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(t.pos + 1, f"more than {MAX_TERMS} terms")
        if t.kind == "op":
            return Operator(t.name, t.value, t.pos + 1, t.phrase)
        if t.kind == "phrase":
            return Text(t.value, True, t.pos + 1)
        return Text(t.value, False, t.pos + 1)


def parse(query: str) -> Node:
    """The syntax tree of ``query``; raises :class:`QuerySyntaxError` naming position and problem."""
    return _Parser(query).parse()
