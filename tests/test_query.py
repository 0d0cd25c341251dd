"""The arXiv query evaluator (query.py) and the offline sample filter that uses it (sources)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from paperpress import query, sources
from paperpress.config import PaperpressError, load_topics

from .helpers import make_project, run_cli

AVATAR = dict(title="UltrAvatar: Animatable 3D Avatars with Authenticity Guided Textures",
              authors=["Mingyuan Zhou", "Guojun Qi"], abstract="We render talking heads with a NeRF.",
              comment="Accepted at CVPR 2024", categories=["cs.CV", "cs.GR"])


@pytest.mark.parametrize("q, expected", [
    ("ti:avatar", True),  # a term finds its plural: arXiv stems
    ("ti:AVATARS", True),  # case-insensitive, and the plural finds the singular
    ("ti:guiding", True),  # simple inflections: "guiding" finds "Guided"
    ("ti:texture", True),
    ('ti:"guided textures"', True),
    ('ti:"textures guided"', False),  # a phrase keeps its order
    ('ti:"talking head"', False),  # the phrase is in the abstract, not the title
    ('abs:"talking head"', True),
    ("abs:nerf AND ti:avatar", True),
    ("abs:nerf ANDNOT ti:avatar", False),
    ("ti:metaverse OR ti:avatar", True),
    ("ti:metaverse OR ti:gaussian", False),
    ("ti:metaverse ti:avatar", True),  # side by side: OR
    ("au:zhou", True),
    ('au:"guojun qi"', True),
    ("au:hinton", False),
    ("co:cvpr", True),
    ("cat:cs.CV", True),
    ("cat:cs.LG", False),
    ("cat:cs", True),  # an archive matches its categories
    ("all:nerf", True),
    ("nerf", True),  # a bare term is all:
    ("ti:diffusion AND (cat:cs.CV OR cat:cs.LG)", False),
    ("ti:avatar AND (cat:cs.LG OR cat:cs.GR)", True),
    ("ti:(metaverse avatar)", True),  # a prefix applies to its group
    ("ti:(metaverse OR gaussian)", False),
    ("ti:metaverse OR ti:avatar AND cat:cs.LG", False),  # AND binds tighter than OR
    ("(ti:metaverse OR ti:avatar) AND cat:cs.GR", True),
])
def test_queries_match_as_arxiv_search(q, expected):
    assert query.match_paper(q, **AVATAR) is expected


def test_the_stem_is_arxivs_reading_of_inflections():
    assert query.split_words("Avatars, animating; 3D-aware") == query.split_words("avatar animated 3d aware")


@pytest.mark.parametrize("bad", ["", "ti:(avatar", "ti:", "xx:avatar", "AND ti:avatar", "ti:avatar)"])
def test_a_query_it_cannot_read_is_an_error(bad):
    with pytest.raises(query.QueryError):
        query.match_paper(bad, title="avatar")


def test_every_shipped_query_parses(root):
    for topic in load_topics(root / "topics.yml").values():
        query.parse_query(topic.query)


def write_sample(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return str(path)


def listing(arxiv_id, title, **extra):
    return {"listed_on": "2024-04-01", "arxiv_id": arxiv_id, "version": "v1", "title": title,
            "authors": ["A. Author"], "abstract": "An abstract.", "comment": None, **extra}


def test_an_offline_run_keeps_the_topics_listings_only(tmp_path, root):
    topics = load_topics(root / "topics.yml")
    path = write_sample(tmp_path / "s.jsonl", [
        listing("2404.00001", "A NeRF for faces"),
        listing("2404.00002", "Neural Radiance Fields for cities"),  # plural of the phrase: stems match
        listing("2404.00003", "Avatars everywhere"),
        listing("2404.00004", "Something else", topic="NeRF"),  # names the topic: its own
        listing("2404.00005", "A NeRF in the wrong field", categories=["q-bio.NC"]),  # not the topic's categories
        listing("2404.00006", "A NeRF for robots", categories=["cs.RO", "cs.CV"]),
    ])
    ids = [p.arxiv_id for p in sources.read_sample(path, dt.date(2024, 4, 1), topics["nerf"])]
    assert ids == ["2404.00001", "2404.00002", "2404.00004", "2404.00006"]


def test_the_embedded_archive_is_the_avatar_topics_own(root):
    topics = load_topics(root / "topics.yml")
    day = dt.date(2024, 4, 1)
    everything = sources.read_sample("", day)
    assert sources.read_sample("", day, topics["metaverse-avatars"]) == everything
    # nerf finds only what its query finds among the avatar papers: the day's six have no NeRF in their titles
    assert sources.read_sample("", day, topics["nerf"]) == []
    whole_year = [p for d in ("2024-01-24", "2024-04-01", "2024-08-23", "2024-12-07")
                  for p in sources.read_sample("", dt.date.fromisoformat(d), topics["nerf"])]
    assert all(query.match_paper(topics["nerf"].query, p.title) for p in whole_year)


def test_a_broken_topic_query_is_a_one_line_error(tmp_path, root):
    topic = load_topics(root / "topics.yml")["nerf"].model_copy(update={"query": "ti:(nerf"})
    path = write_sample(tmp_path / "s.jsonl", [listing("2404.00001", "A NeRF")])
    with pytest.raises(PaperpressError, match="topic nerf: a parenthesis is not closed"):
        sources.read_sample(path, dt.date(2024, 4, 1), topic)


def test_an_offline_run_of_another_topic_posts_none_of_the_avatar_papers(tmp_path):
    project = make_project(tmp_path)
    result = run_cli(project, "run", "--offline", "--topic", "nerf", "--date", "2024-04-01")
    assert result.returncode == 0, result.stderr
    assert "no new papers for nerf" in result.stdout
    assert not (project / "posts" / "2024-04-01-nerf").exists()
