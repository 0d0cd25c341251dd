"""arXiv's search query syntax, read and evaluated against a paper's metadata (parsing only, no network).

Offline runs keep the sample listings a topic's `query` would find. The syntax is the arXiv API's
(https://info.arxiv.org/help/api/user-manual.html, "Details of Query Construction"): field prefixes
`ti:`, `au:`, `abs:`, `co:`, `cat:`, `all:`; Boolean `AND`, `OR`, `ANDNOT`; parentheses to group;
double quotes for a phrase; a bare term is `all:`. Words match case-insensitively in their Snowball
(Porter2) English stem, as arXiv's search stems them: "avatar" finds "Avatars", "animating" finds
"animated". Where this still differs from arXiv's search (the README lists it): terms side by side
without an operator count as OR (Lucene's default operator), AND and ANDNOT bind tighter than OR,
`cat:` matches a category or its archive (`cat:cs` or `cat:cs.*`), no stop words are dropped, no
fuzzy or wildcard match inside a word, and `jr:`, `rn:`, `id:` and date ranges are not evaluated
(they never match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping, Union

import snowballstemmer

FIELDS = ("ti", "au", "abs", "co", "cat", "all", "jr", "rn", "id")
TEXT_FIELDS = ("ti", "au", "abs", "co")  # what all: searches besides the categories
OPERATORS = ("AND", "OR", "ANDNOT")
TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<field>[A-Za-z]+):|"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+))')
WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: "3D-aware" is "3d" "aware", as arXiv tokenises


class QueryError(ValueError):
    """A query this module cannot read; the message says where."""


@dataclass(frozen=True)
class Term:
    """One field's word or phrase (words already stemmed)."""

    field: str
    words: tuple[str, ...]
    raw: str


@dataclass(frozen=True)
class Op:
    """A Boolean operator over two sub-queries."""

    name: str
    left: "Node"
    right: "Node"


Node = Union[Term, Op]


@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    """A word's English Snowball stem, lower case (the same for 'Avatars' and 'avatar')."""
    return STEMMER.stemWord(word.lower())


STEMMER = snowballstemmer.stemmer("english")


def split_words(text: str) -> tuple[str, ...]:
    """The stemmed words of a text, in order."""
    return tuple(stem(w) for w in WORD.findall(text or ""))


def tokenize(query: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: open, close, field, phrase, word, op."""
    tokens, pos = [], 0
    while pos < len(query):
        match = TOKEN.match(query, pos)
        if not match or match.end() == pos:
            if query[pos:].strip():
                raise QueryError(f"cannot read the query at {query[pos:pos + 20]!r}")
            break
        pos = match.end()
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "word" and text in OPERATORS:
            kind = "op"
        tokens.append((kind, text or ""))
    return tokens


class Parser:
    """Recursive descent over the tokens: or-expression of and-expressions of terms."""

    def __init__(self, query: str):
        self.query = query
        self.tokens = tokenize(query)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError(f"the query ends too early: {self.query!r}")
        self.pos += 1
        return token

    def close(self) -> None:
        if self.peek() is None or self.take()[0] != "close":
            raise QueryError(f"a parenthesis is not closed in the query {self.query!r}")

    def parse(self) -> Node:
        node = self.parse_or("all")
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()[1]!r} in the query {self.query!r}")
        return node

    def parse_or(self, field: str) -> Node:
        node = self.parse_and(field)
        while (token := self.peek()) and (token == ("op", "OR") or token[0] in ("open", "field", "phrase", "word")):
            if token[0] == "op":
                self.take()
            node = Op("OR", node, self.parse_and(field))  # side by side without an operator: OR (Lucene's default)
        return node

    def parse_and(self, field: str) -> Node:
        node = self.parse_term(field)
        while (token := self.peek()) and token[0] == "op" and token[1] in ("AND", "ANDNOT"):
            self.take()
            node = Op(token[1], node, self.parse_term(field))
        return node

    def parse_term(self, field: str) -> Node:
        kind, text = self.take()
        if kind == "open":
            node = self.parse_or(field)
            self.close()
            return node
        if kind == "field":
            name = text.lower()
            if name not in FIELDS:
                raise QueryError(f"unknown field prefix {text}: in the query {self.query!r}")
            nxt = self.peek()
            if nxt and nxt[0] == "open":  # ti:(a b): the prefix applies to the group
                self.take()
                node = self.parse_or(name)
                self.close()
                return node
            kind, text = self.take()
            if kind not in ("phrase", "word"):
                raise QueryError(f"{name}: is followed by nothing to search in the query {self.query!r}")
            return make_term(name, text)
        if kind in ("phrase", "word"):
            return make_term(field, text)
        raise QueryError(f"unexpected {text!r} in the query {self.query!r}")


def make_term(field: str, text: str) -> Term:
    """A term of a field: categories kept as written, other text as stemmed words."""
    if field == "cat":
        return Term(field, (text.lower().removesuffix(".*"),), text)
    return Term(field, split_words(text), text)


@lru_cache(maxsize=256)
def parse_query(query: str) -> Node:
    """The query's tree; QueryError when it cannot be read."""
    if not query or not query.strip():
        raise QueryError("the query is empty")
    return Parser(query).parse()


def has_phrase(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    """Whether the phrase's words occur in a row in words."""
    n = len(phrase)
    return n > 0 and any(words[i:i + n] == phrase for i in range(len(words) - n + 1))


def has_category(categories: Iterable[str], wanted: str) -> bool:
    """cat:cs.CV matches cs.CV; cat:cs matches any cs.* category."""
    return any(c.lower() == wanted or c.lower().split(".")[0] == wanted for c in categories)


def evaluate(node: Node, fields: Mapping[str, tuple[str, ...]], categories: tuple[str, ...]) -> bool:
    """Whether a paper (its fields' stemmed words, its categories) matches the query tree."""
    if isinstance(node, Op):
        left = evaluate(node.left, fields, categories)
        if node.name == "AND":
            return left and evaluate(node.right, fields, categories)
        if node.name == "ANDNOT":
            return left and not evaluate(node.right, fields, categories)
        return left or evaluate(node.right, fields, categories)
    if node.field == "cat":
        return has_category(categories, node.words[0])
    if node.field == "all":
        return any(has_phrase(fields[f], node.words) for f in TEXT_FIELDS) or (
            len(node.words) == 1 and has_category(categories, node.raw.lower()))
    if node.field in TEXT_FIELDS:
        return has_phrase(fields[node.field], node.words)
    return False  # jr:, rn:, id: are not in a sample listing


def match_paper(query: str, title: str, authors: Iterable[str] = (), abstract: str = "", comment: str = "",
                categories: Iterable[str] = ()) -> bool:
    """Whether arXiv's search for `query` would find a paper with this metadata (see the module's notes)."""
    fields = {"ti": split_words(title), "abs": split_words(abstract), "co": split_words(comment or ""),
              "au": split_words(" ".join(authors))}
    return evaluate(parse_query(query), fields, tuple(categories))
