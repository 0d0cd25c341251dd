"""Trends on the real sample archive: counts against a direct count of the data, normalisation, rising terms."""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from statistics import NormalDist

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
    # Every whole spelling counts, and so do the phrases that hold one ("gaussian head avatar"); the offline
    # summariser's keywords are already the vocabulary's names, so its papers count once each either way.
    assert counts["3d gaussian splatting"] >= direct >= 15
    assert not [k for k in counts.index if k != "3d gaussian splatting" and re.search(r"\b(3dgs|gaussian splatting)\b", k)]
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
    (["meshes"], "mesh"), (["bodies of work"], ""), (["poses"], "pose"), (["morphable models"], "3d morphable model"),
    (["vertices"], "vertex"),
    (["synthesis of talking faces", "Talking Face Synthesis"], "talking face synthesis"),  # word order
    (["audio driven", "Audio-Driven", "speech-driven", "speech driven"], "audio-driven"),  # hyphenation, synonyms
    (["Gaussian Splatting-based", "3DGS-based"], "3d gaussian splatting"),
])
def test_keyword_normal_forms(variants, term):
    assert {vocab.normalise_keyword(v) for v in variants} == {term}


@pytest.mark.parametrize("junk", ["method", "Framework", "state-of-the-art", "approach", "SOTA", "方法",
                                  "directly generating anchor-style", "diffusion for embodied", "head generation based",
                                  "solution to enable", "2024", "x", "dataset", "English", "models", "talk",
                                  "expressions", "animation", "deep learning", "bodies of work"])
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


def test_windows_count_papers_per_term_by_hand():
    t = toy_trends()
    compared = trends.compare_windows(t).set_index("term")
    assert compared.attrs["papers_now"] == 5 and compared.attrs["papers_before"] == 4
    # 3dgs: 3 of 5 now (60 %), 0 of 4 before → +60.0; NeRF: 2/5 (40 %) vs 1/4 (25 %) → +15.0
    # diffusion model: 1/5 (20 %) vs 3/4 (75 %) → −55.0; rigging 1/5 vs 1/4 → −5.0; avatar 1/5 vs 1/4 → −5.0
    expected = {"3d gaussian splatting": (3, 0, 60.0, 0.0, 60.0), "neural radiance field": (2, 1, 40.0, 25.0, 15.0),
                "diffusion model": (1, 3, 20.0, 75.0, -55.0), "rigging": (1, 1, 20.0, 25.0, -5.0),
                "avatar": (1, 1, 20.0, 25.0, -5.0)}
    got = {term: (r["now"], r["before"], r["share now"], r["share before"], r["change"]) for term, r in compared.iterrows()}
    assert got == expected
    # No term has MIN_PAPERS (5) papers in either window: none is tested, none is called rising or fading.
    assert compared["z"].isna().all() and set(compared["direction"]) == {"none"}
    assert trends.rising_terms(t).empty and trends.fading_terms(t).empty


def test_log_odds_score_by_hand():
    # 18 of 60 papers now, 0 of 60 before: π = 18/120 = 0.15, α0 = 0.1 × 120 = 12, a = 1.8, b = 10.2
    # δ = ln(19.8 / 52.2) − ln(1.8 / 70.2) = 2.6942; σ² = 1/19.8 + 1/52.2 + 1/1.8 + 1/70.2 = 0.63946; z = 3.3691
    assert trends.score_changes([18], [0], 60, 60)[0] == pytest.approx(3.3691, abs=1e-4)
    # 2 against 0 is no evidence of anything; the same share on both sides scores 0; a fall is negative.
    assert abs(trends.score_changes([2], [0], 60, 60)[0]) < 1.2
    assert trends.score_changes([6, 0], [6, 18], 60, 60).tolist()[0] == 0.0
    assert trends.score_changes([0], [18], 60, 60)[0] == pytest.approx(-3.3691, abs=1e-4)


def test_false_discovery_rate_cutoff_by_hand():
    # Benjamini–Hochberg over 8 tests at 5 %: i·0.05/8 = 0.00625, 0.0125, 0.01875, …; only the first two pass.
    p = [0.205, 0.001, 0.039, 0.008, 0.041, 0.042, 0.06, 0.074]
    assert trends.find_cutoff(p) == 2
    assert trends.find_cutoff([0.5, 0.9]) == 0 and trends.find_cutoff([]) == 0
    assert trends.needed_score(2, 8) == pytest.approx(NormalDist().inv_cdf(1 - 2 * 0.05 / 16))


def test_no_previous_window_means_nothing_rises():
    t = trends.make_trends([make_post("2024-03-20", [["nerf"]] * 6, 0)], "2024-03-20", 10, "toy", "Toy", "en", 0)
    assert trends.rising_terms(t).empty and trends.fading_terms(t).empty
    assert trends.changes_data(t)["statistic"]["tested"] == 0


# --- one name per concept -------------------------------------------------------------------------


TALKING_HEAD_QUERY = 'ti:"talking head" OR ti:"talking face" OR ti:"lip sync" OR abs:"talking head generation"'


def test_topic_terms_come_from_the_query_and_the_name():
    terms = vocab.query_terms(TALKING_HEAD_QUERY, "Talking Head Generation")
    assert {"talking head", "talking face", "lip sync", "lip synchronization", "talking head generation"} <= terms
    assert vocab.query_terms("ti:diffusion AND (cat:cs.CV OR cat:cs.LG)", "Diffusion Models") == {"diffusion", "diffusion model"}
    assert "human" not in vocab.query_terms("ti:avatar ANDNOT au:human ANDNOT ti:human", "X")  # fields, exclusions
    assert {"metaverse", "digital human"} <= vocab.query_terms("ti:metaverse", "元宇宙/虚拟人")


def test_phrases_count_for_the_known_terms_they_hold():
    support = {"audio-driven talking head": 3, "talking head": 2, "audio-driven": 2, "one-shot talking head": 1,
               "high-fidelity talking face": 1, "speaking style": 2, "personalized speaking style": 1,
               "talking faces synthesis": 1, "latent diffusion model": 1, "motion retargeting": 1}
    mapped = {k: set(v) for k, v in vocab.map_keywords(support).items()}
    assert mapped["audio-driven talking head"] == {"talking head", "audio-driven"}
    assert mapped["one-shot talking head"] == {"talking head"}  # "one-shot": no term of its own here
    assert mapped["high-fidelity talking face"] == {"talking head"}
    assert mapped["personalized speaking style"] == {"speaking style"}
    assert mapped["talking faces synthesis"] == {"talking head"}
    assert mapped["latent diffusion model"] == {"diffusion model"}
    assert mapped["motion retargeting"] == {"motion retargeting"}  # holds no known term: kept as it is
    topic = vocab.query_terms(TALKING_HEAD_QUERY, "Talking Head Generation")
    on_topic = vocab.map_keywords({**support, "head generation": 2, "high fidelity talking": 1}, topic)
    assert on_topic["audio-driven talking head"] == ("audio-driven",) and on_topic["talking head"] == ()
    assert on_topic["head generation"] == () and on_topic["high fidelity talking"] == ()  # pieces of the topic


def test_one_spelling_per_concept():
    mapped = vocab.map_keywords({"one shot": 1, "one-shot": 3, "facial motion": 1, "facial-motion": 0})
    assert mapped["one shot"] == mapped["one-shot"] == ("one-shot",)  # the spelling most papers use
    assert mapped["facial-motion"] == ("facial motion",)


def write_topics(folder: Path, slug: str = "toy", query: str = 'ti:"talking head" OR ti:"talking face"',
                 name: str = "Toy") -> Path:
    """A topics file with one English topic."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "topics.yml"
    path.write_text(f"topics:\n  - slug: {slug}\n    name: {name}\n    language: en\n    query: '{query}'\n",
                    encoding="utf-8")
    return path


def test_recent_trends_reads_two_windows_and_handles_a_first_post(tmp_path):
    posts = tmp_path / "posts"
    topics = str(write_topics(tmp_path))
    days = ["2023-09-01", "2024-01-05", "2024-02-20", "2024-03-10"]
    for i, day in enumerate(days[:-1]):
        store.save_digest(make_post(day, [["nerf"]], 10 * i), str(posts / f"{day}-toy"))
    store.save_digest(make_post("2024-03-01", [["x"]], 90, slug="other"), str(posts / "2024-03-01-other"))
    today = make_post(days[-1], [["3dgs", "talking faces"]], 50)
    recent = trends.recent_trends(today, str(posts), window_days=60, topics_file=topics)
    assert recent.post_dates == ("2024-01-05", "2024-02-20", "2024-03-10")  # 2023 is outside both windows
    assert recent.earlier_posts == 2 and len(recent.papers) == 3
    assert set(recent.facts["keyword"]["term"]) == {"neural radiance field", "3d gaussian splatting"}  # the topic's out
    first = trends.recent_trends(make_post("2024-03-10", [["3dgs"]], 50), str(tmp_path / "empty"), 60, topics)
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


# --- planted archives: a real change is found first, a shuffled archive shows none ------------------


PLANTED_END = dt.date(2024, 6, 28)
BACKGROUND = {"facial animation": 0.3, "head pose": 0.2, "speaking style": 0.15, "emotion": 0.25, "gesture": 0.1,
              "motion capture": 0.12, "large language model": 0.2, "virtual reality": 0.08}  # steady shares
METHODS = {"diffusion": 0.4, "transformer": 0.3, "GAN": 0.15, "audio-driven": 0.6, "NeRF": 0.04}
INSTITUTIONS = ["Tsinghua University", "ETH Zurich", "Max Planck Institute for Informatics", "Google"]
NEW_TERM = ["3D Gaussian Splatting", "3DGS", "gaussian splatting-based avatar"]  # one concept, three spellings


def planted_entries(seed: int = 7) -> list[tuple[str, Entry]]:
    """(day, entry) of 180 days ending PLANTED_END, 3 papers every other day; the new term in ~30 % of the last 90."""
    rng = random.Random(seed)
    start = PLANTED_END - dt.timedelta(days=179)
    current = PLANTED_END - dt.timedelta(days=89)
    rows = []
    for n, offset in enumerate(range(0, 180, 2)):
        day = start + dt.timedelta(days=offset)
        for k in range(3):
            keywords = ["talking heads"] + [term for term, share in BACKGROUND.items() if rng.random() < share]
            methods = [tag for tag, share in METHODS.items() if rng.random() < share]
            if day >= current and rng.random() < 0.3:
                keywords.append(rng.choice(NEW_TERM))
                methods.append("3D Gaussian Splatting")
            summary = Summary(tldr="t", key_takeaways=["a", "b", "c"], keywords=keywords, methods=methods)
            extras = Extras(affiliations=(Affiliation(name=INSTITUTIONS[rng.randrange(len(INSTITUTIONS))]),))
            rows.append((day.isoformat(), Entry(paper=make_paper(3 * n + k), extras=extras, summary=summary)))
    return rows


def group_days(rows: list[tuple[str, Entry]]) -> list[Digest]:
    """The rows as the posts of topic 'planted', oldest first."""
    by_day: dict[str, list[Entry]] = defaultdict(list)
    for day, entry in rows:
        by_day[day].append(entry)
    return [Digest(date=day, topic_slug="planted", topic_name="Talking Head Generation", language="en",
                   source="sample", summariser="offline", entries=tuple(entries)) for day, entries in sorted(by_day.items())]


def planted_trends(rows: list[tuple[str, Entry]] | None = None) -> trends.Trends:
    """Trends of the planted archive (or of other rows), built in memory."""
    days = group_days(rows or planted_entries())
    return trends.make_trends(days, days[-1].date, 90, "planted", "Talking Head Generation", "en", len(days) - 1,
                              TALKING_HEAD_QUERY)


def save_planted(folder: Path, rows: list[tuple[str, Entry]]) -> tuple[str, str]:
    """The rows as posts (sidecars) of topic 'planted', with its topics file; returns (topics file, posts dir)."""
    topics = write_topics(folder, "planted", TALKING_HEAD_QUERY, "Talking Head Generation")
    for post in group_days(rows):
        store.save_digest(post, str(folder / "posts" / f"{post.date}-planted"))
    return str(topics), str(folder / "posts")


def shuffle_dates(rows: list[tuple[str, Entry]], seed: int) -> list[tuple[str, Entry]]:
    """The same papers on the same days, but each paper moved to a random day's place."""
    entries = [entry for _day, entry in rows]
    random.Random(seed).shuffle(entries)
    return [(day, entry) for (day, _entry), entry in zip(rows, entries)]


def test_a_planted_term_rises_first(tmp_path):
    topics, posts = save_planted(tmp_path, planted_entries())
    t = trends.topic_trends("planted", topics, posts)
    now = t.facts["keyword"].query("date >= '2024-03-31'")
    share = now[now["term"] == "3d gaussian splatting"]["paper"].nunique() / trends.count_papers(t, pd.Timestamp("2024-03-31"))
    assert 0.25 < share < 0.35 and trends.compare_windows(t).set_index("term").loc["3d gaussian splatting", "before"] == 0
    assert trends.rising_terms(t, "keyword").iloc[0]["term"] == "3d gaussian splatting"
    assert trends.rising_terms(t, "method").iloc[0]["term"] == "3D Gaussian Splatting"
    assert trends.rising_terms(t, "family").iloc[0]["term"] == "representation"  # its method family
    data = trends.changes_data(t)
    planted = next(r for r in data["rising"] if r["kind"] == "keyword")
    assert planted == {"term": "3d gaussian splatting", "kind": "keyword", "now": planted["now"], "before": 0,
                       "score": planted["score"]} and planted["score"] > 4 and planted["now"] >= 30
    assert [r["score"] for r in data["rising"]] == sorted((r["score"] for r in data["rising"]), reverse=True)
    assert {("3D Gaussian Splatting", "method"), ("representation", "family")} <= {(r["term"], r["kind"]) for r in data["rising"]}
    assert "talking head" not in set(t.facts["keyword"]["term"])  # the topic's own term


def test_papers_listed_briefly_do_not_dilute_keywords():
    # A busier window lists many papers beyond max_papers (no summary, no keywords): the keyword shares are of
    # the summarised papers, so a steady keyword does not fade. (Methods are tagged on every paper, and these
    # listed papers' abstracts name none: their methods do fade.)
    rows = [(day, entry) for day, entry in planted_entries() if "3D Gaussian Splatting" not in entry.summary.methods]
    days = group_days(rows)
    busy = [post.model_copy(update={"listed": tuple(make_paper(5000 + 10 * i + k) for k in range(4))})
            if post.date >= "2024-03-31" else post for i, post in enumerate(days)]
    t = trends.make_trends(busy, busy[-1].date, 90, "planted", "Talking Head Generation", "en", len(busy) - 1,
                           TALKING_HEAD_QUERY)
    data = trends.changes_data(t)
    now = data["windows"]["now"]
    assert now["papers"] == now["summarised"] + 4 * 45 == now["detailed"] + 4 * 45
    assert not [c for c in data["rising"] + data["fading"] if c["kind"] == "keyword"]
    assert {c["kind"] for c in data["fading"]} == {"method", "family"}
    row = next(r for r in data["keywords"] if r["term"] == "facial animation")
    assert abs(row["change"]) < 10 and row["share_now"] == round(100 * row["now"] / now["summarised"], 1)


def test_shuffled_dates_show_no_change(tmp_path):
    rows = planted_entries()
    found = []
    for seed in range(20):  # in memory (the sidecars on disk are test_a_planted_term_rises_first's part)
        data = trends.changes_data(planted_trends(shuffle_dates(rows, seed)))
        assert data["statistic"]["tested"] >= 15  # the test had terms to find
        found += [(seed, c["term"]) for c in data["rising"] + data["fading"]]
    assert len(found) <= 1, found


# --- the talking-head sample: what an analyst would list ------------------------------------------


def contains(longer: str, shorter: str) -> bool:
    """Whether a term holds another as whole words (hyphens and spaces alike)."""
    return longer != shorter and f" {vocab.fold_term(shorter)} " in f" {vocab.fold_term(longer)} "


def test_sample_keywords_are_one_name_per_concept(archive):
    t = load_trends(archive, "talking-head")
    data = trends.changes_data(t)
    counts = trends.count_terms(t, "keyword")
    supported = [term for term, n in counts.items() if n >= trends.MIN_PAPERS]
    listed = {c["term"] for c in data["rising"] + data["fading"]} | set(supported)
    topic = vocab.query_terms(TALKING_HEAD_QUERY, "Talking Head Generation")
    assert len(supported) >= 8  # enough terms for the checks below to mean something (offline: concepts only)
    assert not [term for term in counts.index if vocab.is_topic_term(term, topic)]  # no topic term at all
    assert not {"talking head", "talking face", "talking head generation", "lip synchronization", "head generation",
                "audio-driven talking head"} & set(counts.index)
    generic = {"dataset", "english", "method", "model", "talk", "expression", "animation", "language", "learning"}
    assert not generic & listed and all(vocab.normalise_keyword(term) == term for term in listed)
    assert not [(a, b) for a in supported for b in supported if contains(a, b)]
    assert not t.facts["keyword"].duplicated(["paper", "term"]).any()  # a paper counts once per term
    for term in data["keywords"]:  # the minimum support: only terms with MIN_PAPERS in a window are scored
        tested = max(term["now"], term["before"]) >= trends.MIN_PAPERS
        assert (term["score"] is not None) == tested and (term["direction"] != "none") <= tested
    assert counts.index[0] == "audio-driven" and counts["audio-driven"] > 60  # "speech-driven", phrases merged


def test_trends_data_is_complete_and_deterministic(archive):
    a, b = load_trends(archive, "talking-head"), load_trends(archive, "talking-head")
    data = trends.changes_data(a)
    assert json.dumps(data, sort_keys=True) == json.dumps(trends.changes_data(b), sort_keys=True)
    assert data["windows"] == {"now": {"from": "2024-09-09", "to": "2024-12-07", "papers": 66, "summarised": 66,
                                       "detailed": 66},
                               "before": {"from": "2024-06-11", "to": "2024-09-08", "papers": 58, "summarised": 58,
                                          "detailed": 58}}
    kinds = {"keywords": "keyword", "methods": "method", "families": "family", "institutions": "affiliation"}
    for name, kind in kinds.items():
        compared = trends.compare_windows(a, kind)
        assert [r["term"] for r in data[name]] == list(compared["term"])
        assert {r["direction"] for r in data[name]} <= {"rising", "fading", "none"}
    assert sum(1 for r in data["keywords"] if r["score"] is not None) + sum(
        1 for n in ("methods", "families", "institutions") for r in data[n] if r["score"] is not None) == \
        data["statistic"]["tested"]


def test_facts_hold_each_term_once_per_paper_in_the_order_first_seen():
    columns = trends.Columns()
    papers = [("2024-04-01", "2404.00001"), ("2024-04-01", "2404.00002"), ("2024-04-02", "2404.00003")]
    for owner, values in ((0, ["b", "a", "b", "", "c"]), (1, []), (2, ["a", "", "d", "b", "a"])):
        columns.extend(owner, values)
    dates, ids = trends.to_dates([d for d, _ in papers]), pd.Series([p for _, p in papers]).array
    terms = [v.upper() for v in columns.values]  # a term per raw value, as the normalising gives them
    got = columns.frame(terms, dates, ids)
    # What pandas gives for the same rows: the reference the integer keys stand in for.
    rows = pd.DataFrame({"date": dates.take(columns.owners), "paper": [papers[o][1] for o in columns.owners],
                         "term": terms})
    expected = rows[rows["term"] != ""].drop_duplicates(["paper", "term"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["term"].tolist() == ["B", "A", "C", "A", "D", "B"]
    assert trends.Columns().frame([], dates, ids).empty
