"""A loopback fake of OpenAlex's works API (lookup by arXiv DOI), with faults.

    with FakeOpenAlex() as openalex:
        openalex.add_work("2403.16510", [("Ziyao Huang", [("Tsinghua University", "https://ror.org/03cve4549", "CN")])])
        openalex.add_work("2404.00001", [("Jane Doe", [], ["Dept. of CS, Tsinghua Univ., Beijing, China"])])
        settings = Settings(openalex_url=openalex.url, openalex_mailto="team@example.org", cache_dir=tmp)
        ...
        openalex.requests[0].params        # {'select': ..., 'mailto': 'team@example.org'}

What it does, each from OpenAlex's documentation:
- GET /works/doi:<doi> answers the Work object; DOIs are matched case-insensitively, as OpenAlex
  stores them in lower case (https://docs.openalex.org/api-entities/works/get-a-single-work,
  https://docs.openalex.org/api-entities/works/work-object#doi).
- A work's shape is the documented one: Work object (id, doi, display_name, authorships), Authorship
  object (affiliations[]{raw_affiliation_string, institution_ids}, author{id, display_name, orcid},
  author_position, countries, institutions[], is_corresponding, raw_affiliation_strings,
  raw_author_name) and the dehydrated Institution (id, display_name, ror, country_code, type,
  lineage): https://docs.openalex.org/api-entities/works/work-object/authorship-object and
  https://docs.openalex.org/api-entities/institutions/institution-object#the-dehydratedinstitution-object
  DOCUMENTED_WORK below is recorded from those pages; make_work builds works of that shape.
- `select=a,b` keeps those top-level fields only
  (https://docs.openalex.org/how-to-use-the-api/get-single-entities/select-fields).
- An unknown work answers 404 with {"error", "message"} (what OpenAlex says for a paper it has not
  indexed yet; https://developers.openalex.org/api-reference/errors).
- Every answer carries X-RateLimit-Limit / -Remaining / -Credits-Used / -Reset; past the day's
  budget (or over the per-second limit, `fail(429)`) it answers 429
  (https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication).

- A key (`FakeOpenAlex(api_key=...)`) goes in the `api_key` query parameter; it is free and required
  since 2026-02-13, while a caller without one still gets a small daily allowance
  (https://developers.openalex.org/guides/authentication: "Add api_key=YOUR_KEY to your API calls",
  "Without an API key, you're limited to $0.01/day of usage"; singleton lookups by DOI are free with
  a key). A wrong key answers 401: checked against the live API in ktwu01/benchmark-radar#77
  ("api_key=bogus → HTTP 401"), in the documented error format (the message's wording is ours: that
  report records the status only).
- `reject_query()`: the next request answers 400 with a message that repeats what it was sent, as
  OpenAlex's 400s repeat the offending parameter ("Invalid filter: publication_year:abc",
  https://developers.openalex.org/api-reference/errors); the query holds the key, so the key comes back
  in an error message, and what a client prints of it must blot the key out.

For a papermill kernel, pass `openalex.env()` (PAPERPRESS_OPENALEX_URL, NO_PROXY; OPENALEX_API_KEY
when the fake has a key).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zlib
from typing import Sequence
from urllib.parse import unquote, urlencode

from .arxiv import LoopbackServer, Request

PREFIX = "/works/doi:10.48550/arxiv."
DAILY_CREDITS = 100_000  # free users' daily budget; a singleton lookup costs one credit (rate-limits page)
Institution = tuple[str, str | None, str | None]  # display name, ROR, country code
# An author: (name, institutions) or (name, institutions, raw affiliation strings).
Author = tuple[str, Sequence[Institution]] | tuple[str, Sequence[Institution], Sequence[str]]

# A work made of the documentation's own examples (pages cited above): the first authorship is the
# Authorship object page's, field for field, plus the institution an older version of that page shows
# with ror, country_code and type all null; the second is the Work object page's example authorship
# ("other fields removed for brevity"), completed with the Authorship object's fields.
DOCUMENTED_WORK = {
    "id": "https://openalex.org/W2741809807",
    "doi": "https://doi.org/10.7717/peerj.4375",
    "display_name": "The state of OA: a large-scale analysis of the prevalence and impact of Open Access articles",
    "authorships": [
        {
            "affiliations": [
                {"raw_affiliation_string": "Scholarly Communications Lab, Simon Fraser University, Vancouver, Canada",
                 "institution_ids": ["https://openalex.org/I18014758"]},
            ],
            "author": {"id": "https://openalex.org/A5085171399", "display_name": "Juan Pablo Alperin",
                       "orcid": "https://orcid.org/0000-0002-9344-7439"},
            "author_position": "first",
            "countries": ["CA"],
            "institutions": [
                {"id": "https://openalex.org/I18014758", "display_name": "Simon Fraser University",
                 "ror": "https://ror.org/0213rcc28", "country_code": "CA", "type": "education",
                 "lineage": ["https://openalex.org/I18014758"]},
                {"id": "https://openalex.org/I209863525", "display_name": "Public Knowledge Project",
                 "ror": None, "country_code": None, "type": None, "lineage": ["https://openalex.org/I209863525"]},
            ],
            "is_corresponding": True,
            "raw_affiliation_strings": ["Canadian Institute for Studies in Publishing, Simon Fraser University"],
            "raw_author_name": "Juan Pablo Alperin",
        },
        {
            "affiliations": [],
            "author": {"id": "https://openalex.org/A5023888391", "display_name": "Jason Priem",
                       "orcid": "https://orcid.org/0000-0001-6187-6610"},
            "author_position": "last",
            "countries": ["US"],
            "institutions": [
                {"id": "https://openalex.org/I4200000001", "display_name": "OurResearch", "ror": "https://ror.org/02nr0ka47",
                 "country_code": "US", "type": "nonprofit", "lineage": ["https://openalex.org/I4200000001"]},
            ],
            "is_corresponding": False,
            "raw_affiliation_strings": [],
            "raw_author_name": "Jason Priem",
        },
    ],
}


def oa_id(prefix: str, text: str) -> str:
    """A stable OpenAlex-style id (https://openalex.org/W123...) for a name."""
    return f"https://openalex.org/{prefix}{zlib.crc32(text.encode()) % 10**10}"


def make_authorship(n: int, total: int, author: Author) -> dict:
    """One Authorship object: the author's institutions and raw strings (the institutions' names when not given)."""
    name, institutions = author[0], list(author[1])
    raw = list(author[2]) if len(author) > 2 else [inst for inst, _, _ in institutions]
    matched = [oa_id("I", inst) for inst, _, _ in institutions]
    return {
        "affiliations": [{"raw_affiliation_string": text, "institution_ids": matched if institutions else []} for text in raw],
        "author": {"id": oa_id("A", name), "display_name": name, "orcid": None},
        "author_position": "first" if n == 0 else ("last" if n == total - 1 else "middle"),
        "countries": sorted({country for _, _, country in institutions if country}),
        "institutions": [
            {"id": oa_id("I", inst), "display_name": inst, "ror": ror, "country_code": country,
             "type": "education" if ror else None, "lineage": [oa_id("I", inst)]}
            for inst, ror, country in institutions
        ],
        "is_corresponding": n == 0,
        "raw_affiliation_strings": raw,
        "raw_author_name": name,
    }


def make_work(arxiv_id: str, authorships: Sequence[Author], title: str = "") -> dict:
    """An OpenAlex work in the documented shape, with the given authors and their institutions, in order."""
    return {
        "id": oa_id("W", arxiv_id),
        "doi": f"https://doi.org/10.48550/arxiv.{arxiv_id}",
        "title": title or f"Paper {arxiv_id}",
        "display_name": title or f"Paper {arxiv_id}",
        "type": "preprint",
        "authorships": [make_authorship(n, len(authorships), author) for n, author in enumerate(authorships)],
    }


class FakeOpenAlex(LoopbackServer):
    """OpenAlex at `.url`: GET /works/doi:10.48550/arXiv.<id> answers a stored work, else 404."""

    def __init__(self, works: dict[str, dict] | None = None, credits: int = DAILY_CREDITS, api_key: str | None = None):
        super().__init__()
        self.works = {k.lower(): v for k, v in (works or {}).items()}
        self.credits = credits
        self.api_key = api_key  # the account's key: another one answers 401 (None: no account)
        self.rejections = 0

    @property
    def url(self) -> str:
        """The API root, for PAPERPRESS_OPENALEX_URL."""
        return self.base

    def add_work(self, arxiv_id: str, authorships: Sequence[Author], title: str = "") -> dict:
        """Index a paper (see make_work) and return its work."""
        self.works[arxiv_id.lower()] = work = make_work(arxiv_id, authorships, title)
        return work

    def spend_credits(self) -> None:
        """Use up the day's budget: every further request answers 429 with X-RateLimit-Remaining: 0."""
        self.credits = 0

    def reject_query(self, times: int = 1) -> None:
        """Answer the next `times` requests with a 400 whose message repeats their query (key included)."""
        self.rejections += times

    def env(self) -> dict[str, str]:
        """Environment variables that point paperpress (or a notebook kernel) at this fake (and its key)."""
        loop = "127.0.0.1,localhost"
        key = {"OPENALEX_API_KEY": self.api_key} if self.api_key else {}
        return {"PAPERPRESS_OPENALEX_URL": self.url, "NO_PROXY": loop, "no_proxy": loop} | key

    def rate_headers(self) -> dict[str, str]:
        """The rate-limit headers every answer carries (credits reset at midnight UTC)."""
        now = dt.datetime.now(dt.timezone.utc)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        return {"Content-Type": "application/json", "X-RateLimit-Limit": str(DAILY_CREDITS),
                "X-RateLimit-Remaining": str(max(self.credits, 0)), "X-RateLimit-Credits-Used": "1",
                "X-RateLimit-Reset": str(int((midnight - now).total_seconds()))}

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        path = unquote(request.path).lower()
        if not path.startswith(PREFIX):
            return super().respond(request)
        sent = request.params.get("api_key")
        if sent is not None and sent != self.api_key:
            body = {"error": "Unauthorized", "message": "Invalid API key."}
            return 401, self.rate_headers(), json.dumps(body).encode()
        with self._lock:
            rejected, self.rejections = self.rejections > 0, max(self.rejections - 1, 0)
        if rejected:
            body = {"error": "Invalid query parameters", "message": f"Invalid query parameters: {urlencode(request.params)}"}
            return 400, self.rate_headers(), json.dumps(body).encode()
        fault = self.take_fault()
        if fault and fault.kind == "timeout":
            time.sleep(fault.seconds)
        if self.credits <= 0:
            body = {"error": "Rate limit exceeded", "message": "You have used up your daily credits."}
            return 429, self.rate_headers(), json.dumps(body).encode()
        self.credits -= 1
        if fault and fault.kind == "status":
            return fault.status, self.rate_headers(), b'{"error": "fake OpenAlex fault", "message": "try again"}'
        work = self.works.get(path.removeprefix(PREFIX))
        if work is None:
            body = {"error": "Not Found", "message": f"Work doi:10.48550/arxiv.{path.removeprefix(PREFIX)} not found"}
            return 404, self.rate_headers(), json.dumps(body).encode()
        if request.params.get("select"):
            work = {k: v for k, v in work.items() if k in request.params["select"].split(",")}
        return 200, self.rate_headers(), json.dumps(work).encode()
