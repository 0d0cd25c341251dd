"""Operations: backfill (parallel = one by one, resumable, interruptible), all topics, doctor, bad inputs."""

import os
import signal
import subprocess
import time

import nbformat
import pytest

from paperpress import archive as store, digest

from .helpers import BIN, make_project, read_post, markdown_outputs, run_cli, tree_bytes, write_jsonl


def record(day, arxiv_id, version, title):
    """A sample-format line."""
    return {"listed_on": day, "topic": "nerf", "arxiv_id": arxiv_id, "version": version, "title": title,
            "authors": ["A. Author"], "abstract": f"We propose {title}, a diffusion model for avatars. "
            "Experiments show it outperforms prior methods.", "comment": None}


@pytest.fixture(scope="module")
def relisting(tmp_path_factory):
    """Three days on which papers recur, as the real digest blog re-listed revised versions."""
    folder = tmp_path_factory.mktemp("relisting")
    return write_jsonl(folder / "days.jsonl", [
        record("2024-03-01", "2403.00001", "v1", "Alpha"), record("2024-03-01", "2403.00002", "v1", "Beta"),
        record("2024-03-02", "2403.00001", "v2", "Alpha"), record("2024-03-02", "2403.00003", "v1", "Gamma"),
        record("2024-03-03", "2403.00002", "v1", "Beta"), record("2024-03-03", "2403.00004", "v1", "Delta"),
    ])


def list_posts(project):
    """The post folders (not Quarto's `_` files such as _metadata.yml, nor posts/_mailings)."""
    return [p for p in (project / "posts").iterdir() if not p.name.startswith("_")]


def backfill(project, sample, *extra):
    """Run `paperpress backfill` over the three days."""
    return run_cli(project, "backfill", "--topic", "nerf", "--offline", "--sample", str(sample),
                   "--from", "2024-03-01", "--to", "2024-03-03", *extra)


def test_parallel_backfill_equals_one_by_one_runs(tmp_path, relisting):
    parallel = make_project(tmp_path / "parallel")
    result = backfill(parallel, relisting, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "posted" in result.stdout and "│      3 │" in result.stdout.replace("│    3 │", "│      3 │")
    sequential = make_project(tmp_path / "sequential")
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        one = run_cli(sequential, "run", "--offline", "--sample", str(relisting), "--topic", "nerf", "--date", day)
        assert one.returncode == 0, one.stderr
    assert tree_bytes(parallel / "posts") == tree_bytes(sequential / "posts")
    second = store.read_digest(parallel / "posts" / "2024-03-02-nerf")
    assert [e.paper.title for e in second.entries] == ["Gamma"]
    assert [(p.title, p.version) for p in second.updated] == [("Alpha", "v2")]
    third = store.read_digest(parallel / "posts" / "2024-03-03-nerf")
    assert [e.paper.title for e in third.entries] == ["Delta"] and not third.updated
    assert "Updated papers" in "\n".join(markdown_outputs(read_post(parallel / "posts" / "2024-03-02-nerf")))
    again = backfill(parallel, relisting, "--jobs", "2")
    assert again.returncode == 0 and "skipped" in again.stdout


def test_backfill_interrupted_leaves_no_partial_post_and_resumes(tmp_path, relisting):
    project = make_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    cmd = [str(BIN / "paperpress"), "backfill", "--topic", "nerf", "--offline", "--sample", str(relisting),
           "--from", "2024-03-01", "--to", "2024-03-03", "--jobs", "1"]
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not (project / "posts" / "2024-03-01-nerf").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    for post in list_posts(project):
        assert not post.name.startswith(".") and {"index.ipynb", "digest.json"} <= {p.name for p in post.iterdir()}
    assert not any((project / ".paperpress" / "pending").iterdir())
    resumed = backfill(project, relisting)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in list_posts(project)) == [
        "2024-03-01-nerf", "2024-03-02-nerf", "2024-03-03-nerf"]


def test_all_topics(tmp_path, relisting):
    project = make_project(tmp_path)
    (project / "topics.yml").write_text(
        "topics:\n  - {slug: one, name: One, query: abs:avatar}\n  - {slug: two, name: Two, query: abs:avatar}\n")
    result = run_cli(project, "run", "--all-topics", "--offline", "--sample", str(relisting), "--date", "2024-03-01")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in list_posts(project)) == ["2024-03-01-one", "2024-03-01-two"]


@pytest.mark.parametrize("args, message", [
    (["--from", "2024-03-05", "--to", "2024-03-01"], "is before --from"),
    (["--from", "2024-3-1", "--to", "2024-03-01"], "bad date"),
    (["--jobs", "0", "--from", "2024-03-01", "--to", "2024-03-01"], "--jobs must be at least 1"),
])
def test_backfill_bad_input(tmp_path, args, message):
    project = make_project(tmp_path)
    result = run_cli(project, "backfill", "--topic", "nerf", "--offline", *args)
    assert result.returncode == 2 and message in result.stderr


def test_posts_dir_that_is_a_file(tmp_path):
    project = make_project(tmp_path)
    (project / "posts").write_text("not a folder")
    result = run_cli(project, "run", "--offline", "--topic", "nerf", "--date", "2024-04-01")
    assert result.returncode == 2 and "cannot create the posts folder" in result.stderr
    assert result.stderr.count("\n") == 1


def test_corrupt_sidecar_is_skipped_with_a_warning(tmp_path, capsys):
    good = tmp_path / "2024-03-01-nerf"
    store.save_digest(digest.Digest(date="2024-03-01", topic_slug="nerf", topic_name="NeRF", language="en",
                                     source="sample", summariser="offline", entries=()), str(good))
    bad = tmp_path / "2024-03-02-nerf"
    bad.mkdir()
    (bad / "digest.json").write_text('{"date": "2024-03-02", "topic_slug": ')
    archive = store.load_archive(tmp_path, "nerf")
    assert [d.date for d in archive] == ["2024-03-01"]
    assert "skipping unreadable sidecar" in capsys.readouterr().err


def test_doctor_never_shows_the_key(tmp_path):
    project = make_project(tmp_path)
    key = "FAKE-doctor-key-0123456789abcdefghij"
    result = run_cli(project, "doctor", env={"GEMINI_API_KEY": key})
    assert result.returncode == 0, result.stdout
    assert "Gemini key    set (not shown)" in result.stdout and key not in result.stdout + result.stderr
    for what in ("Python", "kernel", "template", "topics", "write access", "renderer", "CJK font"):
        assert what in result.stdout
    (project / "topics.yml").write_text("topics: [")
    broken = run_cli(project, "doctor")
    assert broken.returncode == 1 and "not valid YAML" in broken.stdout


# --- exit codes of runs over several topics or days (publish.EXIT_*; `paperpress --help` lists them) ---------


def template_with(project, code: str) -> str:
    """The post template with one more cell after the digest is built (a test's stand-in for a failure)."""
    nb = nbformat.read(project / "notebooks" / "digest.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, project / "notebooks" / "test.ipynb")
    return "notebooks/test.ipynb"


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Two weekdays of papers (both arXiv mailing days)."""
    return write_jsonl(tmp_path_factory.mktemp("two-days") / "days.jsonl", [
        record("2024-03-05", "2403.00011", "v1", "Alpha"), record("2024-03-05", "2403.00012", "v1", "Beta"),
        record("2024-03-06", "2403.00013", "v1", "Gamma")])


def backfill_two_days(project, sample, *extra):
    """`paperpress backfill` of the two days, without the trends page."""
    return run_cli(project, "backfill", "--topic", "nerf", "--offline", "--sample", str(sample),
                   "--from", "2024-03-05", "--to", "2024-03-06", "--jobs", "2", "--no-trends", *extra)


def test_all_topics_exit_1_when_one_topic_fails_and_the_others_still_post(tmp_path, two_days):
    project = make_project(tmp_path)
    (project / "topics.yml").write_text(
        "topics:\n  - {slug: one, name: One, query: abs:avatar}\n  - {slug: two, name: Two, query: abs:avatar}\n")
    template = template_with(project, 'if topic == "one":\n    raise RuntimeError("topic one fails")')
    result = run_cli(project, "run", "--all-topics", "--offline", "--sample", str(two_days), "--date", "2024-03-05",
                     "--template", template, "--no-trends")
    assert result.returncode == 1
    assert "RuntimeError: topic one fails" in result.stderr
    assert sorted(p.name for p in list_posts(project)) == ["2024-03-05-two"]  # the first failure stops nothing


def test_backfill_exit_1_when_a_day_fails(tmp_path, two_days):
    project = make_project(tmp_path)
    template = template_with(project, 'if date == "2024-03-06":\n    raise RuntimeError("this day fails")')
    result = backfill_two_days(project, two_days, "--template", template)
    assert result.returncode == 1
    assert "2024-03-06" in result.stdout and "failed" in result.stdout and "this day fails" in result.stdout
    assert sorted(p.name for p in list_posts(project)) == ["2024-03-05-nerf"]


MISSING_SUMMARY = """# stands for a model that answered nothing for the first paper
d = d.model_copy(update={"entries": (d.entries[0].model_copy(update={"summary": None, "summary_note": "blocked"}),
                                     *d.entries[1:])})"""


def test_backfill_exit_3_when_summaries_are_missing_then_force_rebuilds(tmp_path, two_days):
    project = make_project(tmp_path)
    partial = backfill_two_days(project, two_days, "--template", template_with(project, MISSING_SUMMARY))
    assert partial.returncode == 3, partial.stdout + partial.stderr
    assert "partial" in partial.stdout and "some summaries unavailable" in partial.stdout
    assert store.read_digest(project / "posts" / "2024-03-05-nerf").entries[0].summary is None
    again = backfill_two_days(project, two_days)  # posted days are kept, partial or not
    assert again.returncode == 0 and "skipped" in again.stdout
    assert store.read_digest(project / "posts" / "2024-03-05-nerf").entries[0].summary is None
    forced = backfill_two_days(project, two_days, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "skipped" not in forced.stdout
    for day in ("2024-03-05", "2024-03-06"):
        assert all(e.summary for e in store.read_digest(project / "posts" / f"{day}-nerf").entries)


def run_plan_step(root, tmp_path, topics: int, **limits: str) -> dict[str, str]:
    """The workflow's plan step, run as Actions runs it (bash, with its env), on a topics file of `topics` topics."""
    import yaml

    workflow = yaml.safe_load((root / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))
    step = next(s for s in workflow["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    (tmp_path / "topics.yml").write_text(yaml.safe_dump({"topics": [{"slug": f"t{n}"} for n in range(topics)]}))
    output = tmp_path / "output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for name, default in step["env"].items():  # `${{ vars.X || 'd' }}`: the variable when set, else the default
        env[name] = limits.get(name, default.split("'")[1])
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_workflows_parallel_topics_share_the_keys_limits(root, tmp_path):
    import yaml

    out = run_plan_step(root, tmp_path, 5)
    assert out["topics"] == '["t0", "t1", "t2", "t3", "t4"]'
    assert (out["rpm"], out["tpm"], out["rpd"]) == ("3", "50000", "0")  # 15 and 250000 per minute among 5; no daily budget
    out = run_plan_step(root, tmp_path, 4, GEMINI_RPM="2", GEMINI_TPM="0", GEMINI_RPD="1000")
    assert (out["rpm"], out["tpm"], out["rpd"]) == ("1", "0", "250")  # at least 1; 0 (no limit) stays 0
    workflow = yaml.safe_load((root / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))
    post = workflow["jobs"]["post"]
    assert post["strategy"]["matrix"]["topic"] == "${{ fromJSON(needs.plan.outputs.topics) }}"  # jobs in parallel
    run = next(s for s in post["steps"] if s.get("name") == "paperpress run")
    for name in ("rpm", "tpm", "rpd"):  # each job paces itself with its share
        assert run["env"][f"PAPERPRESS_GEMINI_{name.upper()}"] == f"${{{{ needs.plan.outputs.{name} }}}}"
        assert workflow["jobs"]["plan"]["outputs"][name] == f"${{{{ steps.plan.outputs.{name} }}}}"


def test_count_missing_reads_model_summarised_posts_only(tmp_path):
    from paperpress.records import Digest, Entry, Paper, Summary

    paper = Paper(arxiv_id="2403.00011", version="v1", title="Alpha", authors=("A. Author",), abstract="We propose.")
    done = Summary(tldr="One line.", key_takeaways=["a", "b", "c"])
    entries = (Entry(paper=paper, summary=done), Entry(paper=paper, summary_note="quota"), Entry(paper=paper))
    for summariser, expected in (("gemini:gemini-3.5-flash-lite", 2), ("offline", 0)):
        digest = Digest(date="2024-03-05", topic_slug="nerf", topic_name="NeRF", language="en", source="arxiv",
                        summariser=summariser, entries=entries)
        assert store.count_missing(store.save_digest(digest, str(tmp_path / summariser))) == expected
    whole = Digest(date="2024-03-05", topic_slug="nerf", topic_name="NeRF", language="en", source="arxiv",
                   summariser="gemini:m", entries=entries[:1])
    assert store.count_missing(store.save_digest(whole, str(tmp_path / "whole"))) == 0
