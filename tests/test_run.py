"""`paperpress run` end to end on the embedded sample: the post, its bytes, and every bad input."""

import html
import json
import re
import shutil
import subprocess

import nbformat
import pytest
import yaml

from .helpers import (BIN, ROOT, add_site_files, chart_links, html_tables, make_project, markdown_outputs, markdown_sections,
                      read_post, run_cli, tree_bytes, write_jsonl)

SEED_TITLES = [
    "Make-Your-Anchor: A Diffusion-based 2D Avatar Generation Framework",
    "UV Gaussians: Joint Learning of Mesh Deformation and Gaussian Textures for Human Avatar Modeling",
    "NECA: Neural Customizable Human Avatar",
    "VLOGGER: Multimodal Diffusion for Embodied Avatar Synthesis",
    "GVA: Reconstructing Vivid 3D Gaussian Avatars from Monocular Videos",
    "One2Avatar: Generative Implicit Head Avatar For Few-shot User Adaptation",
]
POST = "posts/2024-04-01-metaverse-avatars"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo post, built once by the real command in a throwaway project."""
    project = make_project(tmp_path_factory.mktemp("demo"))
    result = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01")
    assert result.returncode == 0, result.stderr
    return project, result


def unescape(text: str) -> str:
    """Markdown text without backslash escapes, for comparing with plain titles."""
    return re.sub(r"\\(.)", r"\1", text)


def test_front_matter_is_cell_zero(demo):
    project, result = demo
    assert f"wrote {POST}/index.ipynb (6 papers" in result.stdout
    assert "wrote trends/metaverse-avatars/index.ipynb" in result.stdout  # the topic's trends page follows
    nb = read_post(project / POST)
    cell = nb.cells[0]
    assert cell.cell_type == "raw" and cell.source.startswith("---\n") and cell.source.endswith("\n---")
    matter = yaml.safe_load(cell.source.strip("-\n"))
    assert matter["title"] == "元宇宙/虚拟人 · 2024-04-01：Make-Your-Anchor 等 6 篇"  # tells the posts apart
    assert matter["date"] == "2024-04-01" and matter["lang"] == "zh-Hans"
    assert matter["categories"][0] == "元宇宙/虚拟人"
    assert matter["description"] == f"元宇宙/虚拟人 方向 arXiv 2024-04-01 批次的 6 篇新论文，首篇：{SEED_TITLES[0]}"
    assert "image" not in matter  # no paper figure offline, and never a chart
    assert matter["keywords"] == ["元宇宙/虚拟人", "3d gaussian splatting", "diffusion model", "audio-driven", "mesh"]


def test_clean_demo_run_prints_no_warning(demo):
    _project, result = demo
    # The kernel's warnings (a missing glyph, a pandas FutureWarning) are moved out of the post and passed
    # on to stderr, and its own chatter goes to .paperpress/kernel.log: a clean run leaves stderr empty.
    assert result.stderr == ""


def test_post_is_clean(demo):
    project, _ = demo
    nb = read_post(project / POST)
    nbformat.validate(nb)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        assert "papermill-error-cell-tag" not in tags
        assert "execution" not in cell.metadata and "papermill" not in cell.metadata
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"]
            assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        if "injected-parameters" in tags or "parameters" in tags:
            assert "remove-cell" in tags
    assert "start_time" not in nb.metadata.papermill
    assert nb.metadata.papermill.output_path == f"{POST}/index.ipynb"


def test_every_seed_paper_has_every_section(demo):
    project, _ = demo
    outputs = markdown_outputs(read_post(project / POST))
    header = outputs[0]
    assert "离线抽取式摘要器：每一条都是论文摘要中的原句" in header
    assert "[元宇宙/虚拟人](../../topics/metaverse-avatars.html) ([RSS 订阅](../../topics/metaverse-avatars.xml)) · arXiv 2024-04-01 批次 · 来源：样本数据（离线）" in header
    assert "本批次 arXiv 为本主题公布了 6 篇新论文：全部有总结。" in header  # the ledger
    papers = [o for o in markdown_sections(read_post(project / POST)) if o.startswith("## ") and "**Authors:**" in o]
    headings = [p.splitlines()[0] for p in papers]
    assert [unescape(re.sub(r" \{#arxiv-[\d.]+\}$", "", h[3:])) for h in headings] == SEED_TITLES
    assert headings[0].endswith(" {#arxiv-2403.16510}")  # a stable anchor per paper
    for section in papers:
        for part in ("**Authors:**", "[PDF](https://arxiv.org/pdf/", "**一句话总结**（摘要原句）", "**结构化解读**",
                     "**第一作者单位:** 未知"):
            assert part in section, (part, section[:80])
        for absent in ("<details>", "点此查看论文截图", "暂无论文截图", ": 无", "**工作量:**", "\\url"):
            assert absent not in section, (absent, section[:80])  # no empty figure block, no empty field
    assert "accepted at CVPR2024" in papers[0]


def test_papers_come_first_then_a_short_trend_section(demo):
    project, _ = demo
    nb = read_post(project / POST)
    outputs = markdown_outputs(nb)
    first_paper = next(i for i, o in enumerate(outputs) if "**Authors:**" in o)
    trend_at = next(i for i, o in enumerate(outputs) if o.startswith("## 趋势"))
    assert first_paper == 1 and trend_at == first_paper + 1  # header, papers, trends
    # Only what several papers share is tabulated; nothing is charted twice (nor at all: tables say it).
    assert html_tables(nb) == {"多篇论文共有的关键词": [("3d gaussian splatting", "2"), ("diffusion model", "2")],
                               "多篇论文共有的方法标签": [("3D Gaussian Splatting", "三维表示", "2"), ("diffusion", "生成模型", "2"),
                                                  ("mesh", "三维表示", "2"), ("video-driven", "驱动信号", "2")]}
    assert not chart_links(nb) and not [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    trend = outputs[trend_at]
    assert "今日暂无已知单位" in trend and "[趋势页](../../trends/metaverse-avatars/index.html)" in trend
    assert not re.search(r"<th>(keyword|papers|method|family)</th>", trend)


def test_every_shown_cell_has_one_markdown_output_for_quarto(demo):
    project, _ = demo
    nb = read_post(project / POST)
    shown = [c for c in nb.cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
    for cell in shown:
        # `output: asis` and nothing Quarto would copy onto a div around the cell (papermill's `tags: []`):
        # the text then stands in the page as is and its headings reach the table of contents.
        assert cell.source.startswith("#| output: asis\n") and not cell.metadata, cell.source
        assert len(cell.outputs) <= 1 and all(list(o.data) == ["text/markdown", "text/plain"] for o in cell.outputs)


def test_sidecar_holds_papers_and_summaries(demo):
    project, _ = demo
    data = json.loads((project / POST / "digest.json").read_text(encoding="utf-8"))
    assert data["topic_slug"] == "metaverse-avatars" and data["summariser"] == "offline"
    assert [e["paper"]["title"] for e in data["entries"]] == SEED_TITLES
    assert all(e["summary"]["tldr"] for e in data["entries"])


def test_rerun_gives_the_same_bytes(demo):
    project, _ = demo
    before = tree_bytes(project / "posts")
    result = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01")
    assert result.returncode == 0, result.stderr
    assert tree_bytes(project / "posts") == before
    assert not list((project / ".paperpress" / "staging").iterdir())


def test_trends_page_in_the_posts_kernel_matches_a_fresh_one(demo):
    project, _ = demo  # `run` built the trends page in the kernel that had just built the post
    shared = tree_bytes(project / "trends")
    counts = [c.execution_count for c in read_post(project / "trends" / "metaverse-avatars").cells
              if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))  # numbered as by a fresh kernel, not after the post's cells
    result = run_cli(project, "trends", "--topic", "metaverse-avatars")  # a kernel of its own
    assert result.returncode == 0, result.stderr
    assert tree_bytes(project / "trends") == shared


def test_rerun_with_changed_input_replaces_the_post(tmp_path):
    project = make_project(tmp_path)
    post = project / "posts" / "2024-05-02-nerf"
    for title in ("Alpha radiance fields for avatars", "Beta radiance fields for avatars"):
        sample = write_jsonl(tmp_path / "day.jsonl", [{
            "listed_on": "2024-05-02", "topic": "nerf", "arxiv_id": "2405.00001", "version": "v1", "title": title,
            "authors": ["A. Author"], "abstract": f"We propose {title}, a NeRF method.", "comment": None}])
        result = run_cli(project, "run", "--offline", "--sample", str(sample), "--topic", "nerf", "--date", "2024-05-02",
                         "--no-trends")
        assert result.returncode == 0, result.stderr
    assert "Beta radiance" in (post / "index.ipynb").read_text(encoding="utf-8")
    assert not [name for name, data in tree_bytes(post).items() if b"Alpha" in data]  # nothing of the first run
    assert [p.name for p in (project / "posts").iterdir() if not p.name.startswith("_")] == [post.name]


def test_failing_cell_leaves_the_old_post(demo, tmp_path):
    project, _ = demo
    before = tree_bytes(project / "posts")
    nb = nbformat.read(project / "notebooks" / "digest.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("raise ValueError('boom')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    result = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01",
                     "--template", str(broken))
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr and "cell 5" in result.stderr
    assert tree_bytes(project / "posts") == before


@pytest.mark.parametrize("args, message", [
    (["--date", "2024-02-30"], "bad date '2024-02-30'"),
    (["--date", "2999-01-01"], "in the future"),
    (["--date", "1985-01-01"], "arXiv starts"),
    (["--topic", "metaverse-avatar"], "unknown topic 'metaverse-avatar' (did you mean 'metaverse-avatars'?)"),
    (["--max-papers", "0"], "--max-papers must be between 1 and 200 (got 0)"),
    (["--max-papers", "201"], "--max-papers must be between 1 and 200 (got 201)"),
    (["--lookback-days", "32"], "--lookback-days must be between 0 and 31 (got 32)"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    project = make_project(tmp_path)
    base = {"--topic": "metaverse-avatars", "--date": "2024-04-01"}
    base.update(dict(zip(args[::2], args[1::2])))
    result = run_cli(project, "run", "--offline", *[x for kv in base.items() for x in kv])
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not list((project / "posts").glob("*")) if (project / "posts").exists() else True


def test_malformed_topics_file_exit_2(tmp_path):
    project = make_project(tmp_path)
    (project / "topics.yml").write_text("topics:\n  - slug: x\n    name: X\n    query: q\n    max_papers: lots\n")
    result = run_cli(project, "run", "--offline", "--topic", "x", "--date", "2024-04-01")
    assert result.returncode == 2
    assert "topics.yml: topic 'x': field 'max_papers'" in result.stderr and result.stderr.count("\n") == 1
    assert not (project / "posts").exists() or not list((project / "posts").iterdir())


def test_live_without_key_says_how_to_set_it(tmp_path):
    project = make_project(tmp_path)
    result = run_cli(project, "run", "--topic", "nerf", "--date", "2024-04-01")
    assert result.returncode == 2 and "GEMINI_API_KEY" in result.stderr and result.stderr.count("\n") == 1


def test_script_in_abstract_shows_as_text_and_empty_day(tmp_path):
    project = make_project(tmp_path)
    sample = write_jsonl(tmp_path / "evil.jsonl", [{
        "listed_on": "2024-05-02", "topic": "nerf", "arxiv_id": "2405.00001", "version": "v1",
        "title": "An [evil](javascript:alert(1)) title <img src=x onerror=alert(2)>",
        "authors": ["Mallory <b>Bold</b>"], "abstract": "We propose <script>alert(1)</script> for *avatars*.",
        "comment": "<iframe src=//x>"}])
    empty = run_cli(project, "run", "--offline", "--sample", str(sample), "--topic", "nerf", "--date", "2024-05-01")
    assert empty.returncode == 0 and "no new papers" in empty.stdout
    assert not (project / "posts" / "2024-05-01-nerf").exists()
    result = run_cli(project, "run", "--offline", "--sample", str(sample), "--topic", "nerf", "--date", "2024-05-02")
    assert result.returncode == 0, result.stderr
    text = "\n".join(markdown_outputs(read_post(project / "posts" / "2024-05-02-nerf")))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for raw in ("<script", "<img src=x", "<iframe", "<b>"):
        assert raw not in text
    assert not re.search(r"(?<!\\)\]\(javascript:", text)  # the brackets are escaped: no link is made
    allowed = run_cli(project, "run", "--offline", "--sample", str(sample), "--topic", "nerf",
                      "--date", "2024-05-01", "--allow-empty")
    assert allowed.returncode == 0
    empty = read_post(project / "posts" / "2024-05-01-nerf")
    text = "\n".join(markdown_outputs(empty))
    assert text.count("no new papers") == 1 and "## " not in text and "<table" not in text  # said once, nothing empty
    matter = yaml.safe_load(empty.cells[0].source.strip("-\n"))
    assert matter["description"] == "No new arXiv papers on NeRF in the mailing of 2024-05-01."
    assert matter["title"] == "NeRF · 2024-05-01: no new papers" and "image" not in matter


def test_plain_papermill_runs_the_template(tmp_path):
    project = make_project(tmp_path)
    out = tmp_path / "out.ipynb"
    help_text = subprocess.run([str(BIN / "papermill"), "--help-notebook", "notebooks/digest.ipynb"], cwd=project,
                               capture_output=True, text=True, check=True).stdout
    for name in ("date", "topic", "source", "summariser", "sample_path", "topics_file", "posts_dir", "output_dir",
                 "max_papers", "lookback_days", "model"):
        assert f"  {name}: " in help_text
    subprocess.run([str(BIN / "papermill"), "notebooks/digest.ipynb", str(out), "-p", "date", "2024-04-01",
                    "-p", "topic", "metaverse-avatars", "--no-progress-bar"], cwd=project, check=True,
                   capture_output=True)
    plain = nbformat.read(out, as_version=4)
    assert len([o for o in markdown_sections(plain) if "**Authors:**" in o]) == 6
    assert not [o for c in plain.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]


def test_preview_site_links_the_post(demo):
    project, _ = demo
    for name in ("_quarto.yml", "index.qmd", "about.qmd", "topics.qmd", "trends.qmd"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, project / name)
    result = run_cli(project, "render")
    assert result.returncode == 0, result.stderr
    assert "site at _site/index.html" in result.stdout and "preview" in result.stderr
    home = (project / "_site" / "index.html").read_text(encoding="utf-8")
    assert f'href="{POST}/index.html"' in home
    page = (project / "_site" / POST / "index.html").read_text(encoding="utf-8")
    for title in SEED_TITLES:
        assert title.split(":")[0] in page
    assert "离线抽取式摘要器" in page
    # The preview builds its table of contents as Quarto would: the trends heading and every paper.
    toc = re.search(r'<nav id="TOC".*?</nav>', page, re.S).group(0)
    entries = [re.sub(r"<[^>]+>", "", a) for a in re.findall(r"<a [^>]*>(.*?)</a>", toc, re.S)]
    assert entries == [*SEED_TITLES, "趋势"]


def test_sample_affiliations_reach_the_tables_and_the_trends(tmp_path):
    """A user's JSONL with first-page affiliations: normalised like a first page's, in the post and the trends."""
    project = make_project(tmp_path)
    abstract = "We propose a diffusion method for avatar generation. Experiments show it beats baselines."
    base = {"version": "v1", "title": "An Avatar Method", "authors": ["A. Author"], "abstract": abstract}
    sample = write_jsonl(tmp_path / "mine.jsonl", [
        {**base, "listed_on": "2024-04-01", "arxiv_id": "2403.00001",
         "affiliations": ["1Dept. of Computer Science, Tsinghua Univ., Beijing, China", "2Google Research"]},
        {**base, "listed_on": "2024-04-01", "arxiv_id": "2403.00002", "affiliations": ["清华大学"]},
        {**base, "listed_on": "2024-04-08", "arxiv_id": "2404.00003", "affiliations": ["Tsinghua University", "ETH Zürich"]},
        {**base, "listed_on": "2024-04-08", "arxiv_id": "2404.00004"},
    ])
    result = run_cli(project, "backfill", "--offline", "--sample", str(sample), "--topic", "metaverse-avatars",
                     "--from", "2024-04-01", "--to", "2024-04-08", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    first = read_post(project / "posts" / "2024-04-01-metaverse-avatars")
    assert html_tables(first)["多篇论文共有的单位（OpenAlex 或 PDF）"] == [  # two spellings, one institution
        ("Tsinghua University", "China", "2")]
    text = "\n".join(markdown_outputs(first))
    assert "**第一作者单位:** Dept. of Computer Science, Tsinghua Univ., Beijing, China" in text
    later = read_post(project / "posts" / "2024-04-08-metaverse-avatars")
    assert "已知单位的 1 篇论文来自 2 个不同的单位。" in "\n".join(markdown_outputs(later))  # nothing shared: a sentence
    assert html_tables(later)["高频单位"][0] == ("Tsinghua University", "China", "3")  # under 近 90 天
    assert "今日暂无已知单位" not in text + "\n".join(markdown_outputs(later))
    page = html_tables(read_post(project / "trends" / "metaverse-avatars"))
    assert page["高频单位"][0][:3] == ("Tsinghua University", "China", "3")
    assert page["单位所在国家/地区"] == [("China", "3"), ("Switzerland", "1"), ("United States", "1")]


# Latin-script words a zh post may hold besides arXiv's and the model's text: names, not English we wrote.
NAMES_WE_WRITE = {"Authors", "PDF", "RSS", "arXiv", "API", "OpenAlex", "Google", "Gemini", "tokens", "max_papers"}


def english_we_wrote() -> set[str]:
    """Every word of the English labels of a post (data/labels.yml) and of method families (data/methods.yml): the list to scan for."""
    labels = yaml.safe_load((ROOT / "lib" / "paperpress" / "data" / "labels.yml").read_text(encoding="utf-8"))
    families = yaml.safe_load((ROOT / "lib" / "paperpress" / "data" / "methods.yml").read_text(encoding="utf-8"))["family_names"]
    texts = [*labels["post"]["en"].values(), *(names["en"] for names in families.values()), *families]
    words = {w for text in texts for w in re.findall(r"[A-Za-z][A-Za-z_-]+", re.sub(r"\{[^}]*\}", " ", text))}
    return words - NAMES_WE_WRITE - {"arXiv", "md"}


def outside_text(digest: dict) -> list[str]:
    """What arXiv and the summariser wrote, and the vocabulary's names: not ours to translate, longest first."""
    from paperpress.post import short_title
    from paperpress.text import strip_latex

    texts = [digest["topic_name"]]
    for entry in digest["entries"]:
        paper, summary = entry["paper"], entry["summary"] or {}
        texts += [paper["title"], short_title(paper["title"]), strip_latex(paper["abstract"]), paper["comment"] or "", *paper["authors"]]
        for value in [*summary.values(), *(summary.get("conclusion") or {}).values()]:
            texts += value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return sorted({" ".join(t.split()) for t in texts if t}, key=len, reverse=True)


def test_a_zh_post_holds_no_english_we_wrote(demo):
    project, _ = demo
    add_site_files(project)
    assert run_cli(project, "render").returncode == 0
    page = (project / "_site" / POST / "index.html").read_text(encoding="utf-8")
    main = re.search(r"<main>(.*)</main>", page, re.S).group(1)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())
    for outside in outside_text(json.loads((project / POST / "digest.json").read_text(encoding="utf-8"))):
        text = text.replace(outside, " ")
    text = re.sub(r"https?://\S+", " ", text)
    vocabulary = {t for t in re.findall(r"<td>([^<]*)</td>", main)}  # keyword and method names in the tables
    words = set(re.findall(r"[A-Za-z][A-Za-z_-]+", " ".join(w for w in text.split() if w not in vocabulary)))
    assert not words & english_we_wrote(), sorted(words & english_we_wrote())
    assert words <= NAMES_WE_WRITE, sorted(words - NAMES_WE_WRITE)


def test_an_empty_zh_mailing_says_so_once():
    from paperpress import post, trendpage
    from paperpress.records import Digest

    empty = Digest(date="2024-05-01", topic_slug="metaverse-avatars", topic_name="元宇宙/虚拟人", language="zh",
                   source="sample", summariser="offline", entries=())
    page = "\n".join([post.render_header(empty), *trendpage.render_post_trends(empty)])
    assert page.count("没有本主题的新论文") == 1 and "以下总结由机器生成" not in page and "<table" not in page
    matter = post.build_front_matter(empty, None)
    assert matter["description"] == "元宇宙/虚拟人 方向 arXiv 2024-05-01 批次没有新论文。"
    assert matter["title"] == "元宇宙/虚拟人 · 2024-05-01：本批次无新论文"
