"""`paperpress rebuild`: published posts drawn again from their sidecars, with no arXiv, PDF or model call."""

import json

from .helpers import add_site_files, make_project, markdown_outputs, read_post, run_cli

POST = "posts/2024-04-01-metaverse-avatars"
# Every service unreachable and no key: a rebuild that asked anything would fail.
OFFLINE = {"PAPERPRESS_ARXIV_API_URL": "http://127.0.0.1:9/api/query", "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",
           "PAPERPRESS_OPENALEX_URL": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}


def test_a_rebuild_draws_the_same_post_from_its_sidecar(tmp_path):
    project = make_project(tmp_path)
    built = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01")
    assert built.returncode == 0, built.stderr
    before = markdown_outputs(read_post(project / POST))
    result = run_cli(project, "rebuild", "--topic", "metaverse-avatars", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert "rebuilt 1 of 1 posts of metaverse-avatars" in result.stdout
    assert markdown_outputs(read_post(project / POST)) == before
    assert (project / "trends" / "metaverse-avatars" / "index.ipynb").is_file()


def test_a_rebuild_reads_the_live_posts_sidecar_and_keeps_its_figures(tmp_path):
    project = make_project(tmp_path)
    built = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01", "--no-trends")
    assert built.returncode == 0, built.stderr
    post = project / POST
    sidecar = json.loads((post / "digest.json").read_text(encoding="utf-8"))
    # As a live run published it: from arXiv, summarised by a model, a figure read from the PDF.
    sidecar.update(source="arxiv", summariser="gemini:gemini-3.5-flash-lite")
    first = sidecar["entries"][0]
    first["paper"]["title"] = "Rebuilt From The Sidecar"
    first["extras"]["figures"] = [{"path": "figures/2403.00001-1.webp", "alt": "Figure 1: a teaser", "caption": "Figure 1: a teaser"}]
    (post / "figures").mkdir()
    (post / "figures" / "2403.00001-1.webp").write_bytes(b"RIFF....WEBP")
    (post / "digest.json").write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
    result = run_cli(project, "rebuild", "--date", "2024-04-01", "--no-trends", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert "Rebuilt From The Sidecar" in "\n".join(markdown_outputs(read_post(post)))
    assert (post / "figures" / "2403.00001-1.webp").read_bytes() == b"RIFF....WEBP"
    assert json.loads((post / "digest.json").read_text(encoding="utf-8"))["summariser"] == "gemini:gemini-3.5-flash-lite"
    assert not (project / "trends").exists()


def test_nothing_to_rebuild_is_a_one_line_error(tmp_path):
    project = make_project(tmp_path)
    result = run_cli(project, "rebuild", "--topic", "nerf")
    assert result.returncode == 2 and "no published post to rebuild" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_demo_rebuilds_its_posts_from_their_sidecars(tmp_path):
    project = add_site_files(make_project(tmp_path))
    first = run_cli(project, "demo", "--rebuild")
    assert first.returncode == 2 and "run `paperpress demo` first" in first.stderr
    built = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01", "--no-trends")
    assert built.returncode == 0, built.stderr
    result = run_cli(project, "demo", "--rebuild", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert "rebuilt 1 of 1 posts" in result.stdout and "demo site at" in result.stdout
    assert (project / "_site" / "posts" / "2024-04-01-metaverse-avatars" / "index.html").is_file()
