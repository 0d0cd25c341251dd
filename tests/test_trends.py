"""Trends on the real sample archive: counts against a direct count of the data, normalisation, rising terms."""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

from paperpress import archive as store, digest, institutions, trends, vocab
from paperpress.records import Affiliation, Digest, Entry, Extras, Paper, Summary

from .conftest import ROOT, SAMPLE_DIR

TOPICS = ("metaverse-avatars", "talking-head")


def read_listings(slug: str) -> list[dict]:
    """The sample's listings of a topic, in file order."""
    return [json.loads(line) for line in (SAMPLE_DIR / f"{slug}.jsonl").read_text(encoding="utf-8").splitlines() if line]


@functools.cache
def build_archive(base: Path) -> Path:
    """Posts (sidecars only) for every listed day of both sample topics, day by day in order, in-process."""
    posts = base / "sample-archive" / "posts"
    for slug in TOPICS:
        sample = SAMPLE_DIR / f"{slug}.jsonl"
        for day in sorted({r["listed_on"] for r in read_listings(slug)}):
            folder = posts / f"{day}-{slug}"
            # max_papers above the busiest day (31 listings): every listed paper gets into the archive.
            built = digest.build_digest(date=day, topic=slug, source="sample", sample_path=str(sample),
                                        topics_file=str(ROOT / "topics.yml"), posts_dir=str(posts),
                                        output_dir=str(folder), max_papers=100)
            store.save_digest(built, str(folder))
    return posts


@pytest.fixture(scope="session")
def archive(tmp_path_factory, sample_dir) -> Path:
    """The sample archive's posts folder (built once per test session, shared by the trend test files)."""
    return build_archive(tmp_path_factory.getbasetemp())


def load_trends(posts: Path, slug: str, window_days: int = 90) -> trends.Trends:
    """A topic's whole-archive trends."""
    return trends.topic_trends(slug, str(ROOT / "topics.yml"), str(posts), window_days)


def first_listings(slug: str) -> dict[str, dict]:
    """Each paper's first listing (the day a post shows it as new)."""
    first: dict[str, dict] = {}
    for record in sorted(read_listings(slug), key=lambda r: r["listed_on"]):  # stable: file order within a day
        first.setdefault(record["arxiv_id"], record)
    return first


@pytest.mark.parametrize("slug, papers", [("metaverse-avatars", 114), ("talking-head", 185)])
def test_papers_per_month_match_the_data(archive, slug, papers):
    t = load_trends(archive, slug)
    first = first_listings(slug)
    assert len(first) == papers == len(t.papers)
    direct = Counter(r["listed_on"][:7] for r in first.values())
    table = trends.papers_over_time(t)
    assert list(table.columns) == [f"2024-{m:02d}" for m in range(1, 13)]  # empty months shown too
    assert {k: v for k, v in table.loc["papers"].items() if v} == dict(direct)


@pytest.mark.parametrize("slug", TOPICS)
def test_method_families_per_month_match_the_vocabulary(archive, slug):
    t = load_trends(archive, slug)
    families = {m.tag: m.family for m in vocab.load_methods()}
    direct: dict[tuple[str, str], int] = defaultdict(int)
    for record in first_listings(slug).values():
        tags = vocab.tag_methods(f"{record['title']}. {record['abstract']}")
        for family in {families[tag] for tag in tags}:
            direct[(family, record["listed_on"][:7])] += 1
    table = trends.family_over_time(t)
    counted = {(f, m): int(n) for f, row in table.iterrows() for m, n in row.items() if n}
    assert counted == dict(direct)
    assert list(table.index) == [f for f in vocab.family_order() if f in {k[0] for k in direct}]


def test_keyword_aliases_merge_in_archive_counts(archive):
    t = load_trends(archive, "metaverse-avatars")
    spellings = {"3dgs", "3d gaussian splatting", "gaussian splatting", "gaussian splattings", "gaussians",
                 "3d gaussians", "gaussian", "gaussian primitives"}
    direct = 0
    for post in store.load_archive(archive, "metaverse-avatars"):
        direct += sum(bool(spellings & {k.lower() for k in e.summary.keywords}) for e in post.entries)
    counts = trends.count_terms(t, "keyword")
    assert counts["3d gaussian splatting"] == direct >= 15
    assert "gaussian splatting" not in counts and "gaussians" not in counts
    assert counts.index[0] == "3d gaussian splatting"  # the merged term leads the topic


def test_yake_junk_is_not_counted(archive):
    day = store.read_digest(archive / "2024-04-01-metaverse-avatars")
    raw = {k for e in day.entries for k in e.summary.keywords}
    # The offline summariser already drops what the stop lists reject; counting drops it again for model keywords.
    assert not {"approach", "directly generating anchor-style", "diffusion for embodied"} & raw
    table = trends.keyword_table(day)
    for junk in ("approach", "directly generating anchor-style", "diffusion for embodied", "avatars from monocular"):
        assert junk not in set(table["keyword"])
    assert "3d gaussian splatting" in set(table["keyword"])


@pytest.mark.parametrize("variants, term", [
    (["3DGS", "3D Gaussian Splatting", "Gaussian splatting", "gaussians", "3D-GS"], "3d gaussian splatting"),
    (["NeRF", "NeRFs", "Neural Radiance Fields", "neural radiance field", "Neural Radiance Fields (NeRF)"],
     "neural radiance field"),
    (["Talking Heads", "talking head", "talking faces"], "talking head"),
    (["三维高斯泼溅 (3D Gaussian Splatting)", "3D高斯泼溅", "高斯溅射", "3DGS（三维高斯泼溅）"], "3d gaussian splatting"),
    (["扩散模型", "扩散模型/diffusion models", "Diffusion Models"], "diffusion model"),
    (["lip sync", "Lip-Sync", "lip synchronisation"], "lip synchronization"),
    (["meshes"], "mesh"), (["bodies of work"], ""), (["poses"], "pose"), (["analysis"], "analysis"),
])
def test_keyword_normal_forms(variants, term):
    assert {vocab.normalise_keyword(v) for v in variants} == {term}


@pytest.mark.parametrize("junk", ["method", "Framework", "state-of-the-art", "approach", "SOTA", "方法",
                                  "directly generating anchor-style", "diffusion for embodied", "head generation based",
                                  "solution to enable", "2024", "x"])
def test_stop_list(junk):
    assert vocab.normalise_keyword(junk) == ""


def test_unknown_chinese_keyword_is_kept_as_written():
    assert vocab.normalise_keyword(" 数字 孪生 ") == "数字孪生"


@pytest.mark.parametrize("spellings, name, country", [
    (["CAS ICT", "ICT, CAS", "Institute of Computing Technology, Chinese Academy of Sciences",
      "Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China", "中国科学院计算技术研究所"],
     "Institute of Computing Technology", "China"),
    (["Tsinghua University", "Tsinghua Univ.", "Tsinghua Univeristy", "Dept. of Computer Science, Tsinghua University",
      "清华大学"], "Tsinghua University", "China"),
    (["Shanghai AI Lab", "Shanghai AI Laboratory", "Shanghai Artificial Intelligence Laboratory"],
     "Shanghai Artificial Intelligence Laboratory", "China"),
    (["The Chinese University of Hong Kong", "CUHK"], "Chinese University of Hong Kong", "Hong Kong"),
    (["University of Science & Technology of China", "USTC"], "University of Science and Technology of China", "China"),
])
def test_affiliation_spellings_merge(spellings, name, country):
    found = {institutions.normalise_affiliation(s) for s in spellings}
    assert found == {trends.Institution(name, country, known=True)}


def test_close_but_different_institutions_stay_apart():
    names = ["University of Tokyo", "University of Kyoto", "East China University of Science and Technology",
             "University of Science and Technology of China", "University of Chinese Academy of Sciences",
             "Chinese Academy of Sciences", "Zhejiang Normal University"]
    assert len({institutions.normalise_affiliation(n).name for n in names}) == len(names)


def test_openalex_names_and_countries_are_kept():
    institution = institutions.normalise_affiliation("Universidad de Ejemplo", "https://ror.org/0example", "ES")
    assert institution == trends.Institution("Universidad de Ejemplo", "Spain", known=True)
    assert institutions.normalise_affiliation("Tsinghua University", "https://ror.org/x", "CN").name == "Tsinghua University"


def test_unknown_institutions_keep_the_unit_and_country():
    found = institutions.normalise_affiliation("School of Informatics, Example Normal University, Fuzhou, P.R. China")
    assert found == trends.Institution("Example Normal University", "China")
    merged = institutions.merge_spellings(["Example Normal University", "Example Normal Univ.", "Exmaple Normal University",
                                     "Another Normal University"])
    assert len(set(merged.values())) == 2 and merged["Exmaple Normal University"] == merged["Example Normal University"]


def with_affiliations(posts: list[Digest], names: list[list[str]]) -> list[Digest]:
    """Copies of posts whose i-th paper overall gets the i-th list of PDF affiliation names (cycled)."""
    result, i = [], 0
    for post in posts:
        entries = []
        for entry in post.entries:
            extras = Extras(affiliations=tuple(Affiliation(name=n) for n in names[i % len(names)]))
            entries.append(entry.model_copy(update={"extras": extras}))
            i += 1
        result.append(post.model_copy(update={"entries": tuple(entries)}))
    return result


def test_affiliations_and_countries_count_once_per_paper(archive):
    posts = store.load_archive(archive, "talking-head")
    names = [["Tsinghua Univ., Beijing, China", "CAS ICT"],
             ["Institute of Computing Technology, Chinese Academy of Sciences", "ICT, CAS"],
             ["Example Lab of Avatars, Zurich, Switzerland"], ["Exmaple Lab of Avatars"], []]
    t = trends.make_trends(with_affiliations(posts, names), posts[-1].date, 90, "talking-head", "T", "en", len(posts) - 1)
    n = len(t.papers)
    cycle = [n // 5 + (i < n % 5) for i in range(5)]  # papers per position of the cycle
    table = trends.top_affiliations(t)
    counts = dict(zip(table["affiliation"], table["papers"]))
    assert counts == {"Institute of Computing Technology": cycle[0] + cycle[1], "Tsinghua University": cycle[0],
                      "Example Lab of Avatars": cycle[2] + cycle[3]}
    assert dict(zip(table["affiliation"], table["country"]))["Example Lab of Avatars"] == "Switzerland"
    countries = trends.top_countries(t)
    assert dict(zip(countries["country"], countries["papers"])) == {"China": cycle[0] + cycle[1],
                                                                   "Switzerland": cycle[2]}
    assert table["last window"].sum() > 0 and list(table.columns[-2:]) == ["last window", "window before"]


def make_paper(i: int) -> Paper:
    """A minimal paper with a valid id."""
    return Paper(arxiv_id=f"2401.{i:05d}", version="v1", title=f"Paper {i}", authors=("A",), abstract="x")


def make_post(day: str, keyword_lists: list[list[str]], start: int, slug: str = "toy") -> Digest:
    """A post of papers with the given keywords."""
    entries = tuple(Entry(paper=make_paper(start + i), summary=Summary(tldr="t", key_takeaways=["a", "b", "c"],
                                                                       keywords=kws, methods=["NeRF"]))
                    for i, kws in enumerate(keyword_lists))
    return Digest(date=day, topic_slug=slug, topic_name="Toy", language="en", source="sample", summariser="offline",
                  entries=entries)


def toy_trends() -> trends.Trends:
    """Two 10-day windows ending 2024-03-20: 4 papers before (03-01…03-10), 5 now (03-11…03-20)."""
    posts = [
        make_post("2024-02-25", [["avatar"]], 0),  # before both windows: never counted in a comparison
        make_post("2024-03-02", [["NeRF", "diffusion models"], ["diffusion model"]], 10),
        make_post("2024-03-09", [["Diffusion", "rigging"], ["avatar"]], 20),
        make_post("2024-03-12", [["NeRFs", "3DGS"], ["gaussian splatting"], ["nerf"]], 30),
        make_post("2024-03-20", [["3D Gaussian Splatting", "rigging"], ["avatar", "diffusion"]], 40),
    ]
    return trends.make_trends(posts, "2024-03-20", 10, "toy", "Toy", "en", len(posts) - 1)


def test_rising_and_fading_scores_by_hand():
    t = toy_trends()
    compared = trends.compare_windows(t).set_index("term")
    assert compared.attrs == {"papers_now": 5, "papers_before": 4}
    # 3dgs: 3 of 5 now (60 %), 0 of 4 before → +60.0; NeRF: 2/5 (40 %) vs 1/4 (25 %) → +15.0
    # diffusion model: 1/5 (20 %) vs 3/4 (75 %) → −55.0; rigging 1/5 vs 1/4 → −5.0; avatar 1/5 vs 1/4 → −5.0
    expected = {"3d gaussian splatting": (3, 0, 60.0, 0.0, 60.0), "neural radiance field": (2, 1, 40.0, 25.0, 15.0),
                "diffusion model": (1, 3, 20.0, 75.0, -55.0), "rigging": (1, 1, 20.0, 25.0, -5.0),
                "avatar": (1, 1, 20.0, 25.0, -5.0)}
    got = {term: (r["now"], r["before"], r["share now"], r["share before"], r["change"]) for term, r in compared.iterrows()}
    assert got == expected
    rising = trends.rising_terms(t)
    assert list(rising["term"]) == ["3d gaussian splatting", "neural radiance field"]
    fading = trends.fading_terms(t)
    assert list(fading["term"]) == ["diffusion model"]  # rigging and avatar had 1 paper before: below MIN_PAPERS


def test_no_previous_window_means_nothing_rises():
    t = trends.make_trends([make_post("2024-03-20", [["nerf"], ["nerf"]], 0)], "2024-03-20", 10, "toy", "Toy", "en", 0)
    assert trends.rising_terms(t).empty and trends.fading_terms(t).empty


def test_recent_trends_reads_two_windows_and_handles_a_first_post(tmp_path):
    posts = tmp_path / "posts"
    days = ["2023-09-01", "2024-01-05", "2024-02-20", "2024-03-10"]
    for i, day in enumerate(days[:-1]):
        store.save_digest(make_post(day, [["nerf"]], 10 * i), str(posts / f"{day}-toy"))
    store.save_digest(make_post("2024-03-01", [["x"]], 90, slug="other"), str(posts / "2024-03-01-other"))
    today = make_post(days[-1], [["3dgs"]], 50)
    recent = trends.recent_trends(today, str(posts), window_days=60)
    assert recent.post_dates == ("2024-01-05", "2024-02-20", "2024-03-10")  # 2023 is outside both windows
    assert recent.earlier_posts == 2 and len(recent.papers) == 3
    first = trends.recent_trends(make_post("2024-03-10", [["3dgs"]], 50), str(tmp_path / "empty"), 60)
    assert first.earlier_posts == 0 and len(first.papers) == 1


def test_weekly_table_shows_every_week_of_the_window():
    t = toy_trends()
    table = trends.family_over_time(t, recent=True)
    assert list(table.columns) == ["2024-03-11", "2024-03-18"]  # Mondays of the weeks of 03-11 … 03-20
    assert table.loc["representation"].tolist() == [3, 2]
    assert trends.pick_freq(t) == "W"


def test_tables_are_deterministic(archive):
    a, b = load_trends(archive, "talking-head"), load_trends(archive, "talking-head")
    for kind in trends.KINDS:
        pd.testing.assert_frame_equal(a.facts[kind], b.facts[kind])
    pd.testing.assert_frame_equal(trends.rising_terms(a), trends.rising_terms(b))
    counts = trends.count_terms(a, "keyword")
    pairs = list(zip(-counts.to_numpy(), counts.index))
    assert pairs == sorted(pairs)  # ties broken alphabetically
