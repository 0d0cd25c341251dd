"""The sample source: the embedded seed day and the real listings in ../shared/data/sample."""

import datetime as dt
import json
from collections import defaultdict

import pytest

from paperpress import archive as store, digest, sources
from paperpress.config import PaperpressError

SEED_IDS = ["2403.16510", "2403.11589", "2403.10335", "2403.08764", "2402.16607", "2402.11909"]


def test_embedded_sample_is_the_seed_day():
    papers = sources.read_sample("", dt.date(2024, 4, 1))
    assert [p.arxiv_id for p in papers] == SEED_IDS
    first = papers[0]
    assert first.title == "Make-Your-Anchor: A Diffusion-based 2D Avatar Generation Framework"
    assert first.authors[0] == "Ziyao Huang" and len(first.authors) == 7
    assert first.comment == "accepted at CVPR2024"
    assert first.pdf_url == "https://arxiv.org/pdf/2403.16510v1"
    assert sources.read_sample("", dt.date(2024, 4, 2)) == []


def test_sample_reads_every_day_of_the_real_listing(sample_dir):
    path = sample_dir / "metaverse-avatars.jsonl"
    expected = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if obj["arxiv_id"] not in expected[obj["listed_on"]]:
            expected[obj["listed_on"]].append(obj["arxiv_id"])
    assert len(expected) == 37
    for day, ids in expected.items():
        papers = sources.read_sample(path, dt.date.fromisoformat(day))
        assert [p.arxiv_id for p in papers] == ids
        assert all(p.title and p.authors and p.abstract and p.abs_url.startswith("https://") for p in papers)


def test_dedupe_across_days_of_the_real_listing(sample_dir, tmp_path):
    """Posting every day in order: each paper is new once, later listings are 'updated' or dropped."""
    path = sample_dir / "talking-head.jsonl"
    days = sorted({json.loads(line)["listed_on"] for line in path.read_text(encoding="utf-8").splitlines()})
    posts = tmp_path / "posts"
    new_ids: list[str] = []
    updated = 0
    for day in days:
        papers = sources.read_sample(path, dt.date.fromisoformat(day))
        posted = store.collect_posted(store.load_archive(posts, "talking-head", before=day))
        new, upd = sources.split_new(papers, posted)
        assert not {p.arxiv_id for p in new} & set(posted)
        assert all(p.arxiv_id in posted and p.version not in posted[p.arxiv_id] for p in upd)
        new_ids += [p.arxiv_id for p in new]
        updated += len(upd)
        fake = digest.Digest(date=day, topic_slug="talking-head", topic_name="t", language="en", source="sample",
                             summariser="offline", entries=tuple(digest.Entry(paper=p) for p in new),
                             updated=tuple(upd))
        store.save_digest(fake, str(posts / f"{day}-talking-head"))
    assert len(new_ids) == len(set(new_ids)) == 185  # the README: 185 distinct papers
    assert updated > 0  # revised versions were re-listed on later days


def test_bad_sample_line_is_a_clear_error(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"listed_on": "2024-04-01", "arxiv_id": "2403.16510"}\n', encoding="utf-8")
    with pytest.raises(PaperpressError, match="line 1: not a sample record"):
        sources.read_sample(path, dt.date(2024, 4, 1))


def test_missing_sample_file(tmp_path):
    with pytest.raises(PaperpressError, match="cannot read sample file"):
        sources.read_sample(tmp_path / "nope.jsonl", dt.date(2024, 4, 1))


def test_embedded_sample_is_the_archive_of_37_days():
    days = {d: sources.read_sample("", dt.date.fromisoformat(d)) for d in ("2024-01-24", "2024-08-23", "2024-12-07")}
    assert [len(papers) for papers in days.values()] == [13, 13, 1]  # distinct ids listed on those days


def test_sample_affiliations_are_read_as_a_first_page_gives_them(tmp_path):
    path = tmp_path / "s.jsonl"
    record = {"listed_on": "2024-04-01", "arxiv_id": "2403.16510", "version": "v1", "title": "T", "authors": ["A"],
              "abstract": "B.", "affiliations": ["1Tsinghua University,", " tsinghua  university", "", "*Google Research",
                                                 "清华大学", "a", "b", "c", "d"]}
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "arxiv_id": "2403.11589", "affiliations": None})
                    + "\n", encoding="utf-8")
    first, second = sources.make_sample_extras(sources.read_sample(path, dt.date(2024, 4, 1)), path, dt.date(2024, 4, 1))
    assert [a.name for a in first.affiliations] == ["Tsinghua University", "Google Research", "清华大学", "a", "b", "c"]
    assert {a.source for a in first.affiliations} == {"pdf"} and first.pdf_status == "not-fetched"
    assert second.affiliations == ()
    assert [e.affiliations for e in sources.make_sample_extras(sources.read_sample("", dt.date(2024, 4, 1)), "",
                                                                 dt.date(2024, 4, 1))] == [()] * 6


@pytest.mark.parametrize("value", ["Tsinghua University", [["Tsinghua University"]], [1], {"name": "MIT"}])
def test_malformed_sample_affiliations_are_a_one_line_error(tmp_path, value):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"listed_on": "2024-04-01", "arxiv_id": "2403.16510", "title": "T", "authors": ["A"],
                                "abstract": "B.", "affiliations": value}) + "\n", encoding="utf-8")
    with pytest.raises(PaperpressError, match=r"line 1: not a sample record \(affiliations must be a list of "
                                              r"institution names \(strings\)\)$"):
        sources.read_sample(path, dt.date(2024, 4, 1))
