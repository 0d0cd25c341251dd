"""A loopback fake of OpenAlex's works API (lookup by arXiv DOI), with faults.

    with FakeOpenAlex() as openalex:
        openalex.add_work("2403.16510", [("Ziyao Huang", [("Tsinghua University", "https://ror.org/03cve4549", "CN")])])
        settings = Settings(openalex_url=openalex.url, openalex_mailto="team@example.org")
        ...
        openalex.requests[0].params        # {'mailto': 'team@example.org'}

Unknown works answer 404 (what OpenAlex says for a paper it has not indexed yet). For a papermill
kernel, pass `openalex.env()` (PAPERPRESS_OPENALEX_URL, NO_PROXY).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Sequence
from urllib.parse import unquote

from .arxiv import LoopbackServer, Request

PREFIX = "/works/doi:10.48550/arxiv."
Institution = tuple[str, str | None, str | None]  # display name, ROR, country code


def make_work(arxiv_id: str, authorships: Sequence[tuple[str, Sequence[Institution]]], title: str = "") -> dict:
    """An OpenAlex work in the API's shape, with the given authors and their institutions, in order."""

    def oa_id(prefix: str, text: str) -> str:
        return f"https://openalex.org/{prefix}{zlib.crc32(text.encode()) % 10**10}"

    return {
        "id": oa_id("W", arxiv_id),
        "doi": f"https://doi.org/10.48550/arxiv.{arxiv_id}",
        "display_name": title or f"Paper {arxiv_id}",
        "type": "preprint",
        "authorships": [
            {
                "author_position": "first" if n == 0 else ("last" if n == len(authorships) - 1 else "middle"),
                "author": {"id": oa_id("A", name), "display_name": name, "orcid": None},
                "institutions": [
                    {"id": oa_id("I", inst), "display_name": inst, "ror": ror, "country_code": country, "type": "education",
                     "lineage": [oa_id("I", inst)]}
                    for inst, ror, country in institutions
                ],
                "countries": sorted({country for _, _, country in institutions if country}),
                "is_corresponding": n == 0,
                "raw_author_name": name,
                "raw_affiliation_strings": [inst for inst, _, _ in institutions],
            }
            for n, (name, institutions) in enumerate(authorships)
        ],
    }


class FakeOpenAlex(LoopbackServer):
    """OpenAlex at `.url`: GET /works/doi:10.48550/arXiv.<id> answers a stored work, else 404."""

    def __init__(self, works: dict[str, dict] | None = None):
        super().__init__()
        self.works = {k.lower(): v for k, v in (works or {}).items()}

    @property
    def url(self) -> str:
        """The API root, for PAPERPRESS_OPENALEX_URL."""
        return self.base

    def add_work(self, arxiv_id: str, authorships: Sequence[tuple[str, Sequence[Institution]]], title: str = "") -> dict:
        """Index a paper (see make_work) and return its work."""
        self.works[arxiv_id.lower()] = work = make_work(arxiv_id, authorships, title)
        return work

    def env(self) -> dict[str, str]:
        """Environment variables that point paperpress (or a notebook kernel) at this fake."""
        loop = "127.0.0.1,localhost"
        return {"PAPERPRESS_OPENALEX_URL": self.url, "NO_PROXY": loop, "no_proxy": loop}

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        path = unquote(request.path).lower()
        if not path.startswith(PREFIX):
            return super().respond(request)
        fault = self.take_fault()
        if fault and fault.kind == "timeout":
            time.sleep(fault.seconds)
        if fault and fault.kind == "status":
            return fault.status, {"Content-Type": "application/json"}, b'{"error": "fake OpenAlex fault"}'
        work = self.works.get(path.removeprefix(PREFIX))
        if work is None:
            body = {"error": "404 Not Found", "message": "The requested resource could not be found."}
            return 404, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(work).encode()
