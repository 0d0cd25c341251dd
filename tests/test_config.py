"""Topics file and settings: validation errors are one line naming file, topic and field."""

import datetime as dt

import pytest

from paperpress.config import PaperpressError, find_topic, load_settings, load_topics, parse_date

from .conftest import ROOT


def test_shipped_topics_are_valid():
    topics = load_topics(ROOT / "topics.yml")
    assert list(topics) == ["metaverse-avatars", "talking-head", "3dgs", "nerf", "diffusion-models"]
    assert topics["metaverse-avatars"].language == "zh"
    assert topics["metaverse-avatars"].name == "元宇宙/虚拟人"


@pytest.mark.parametrize("text, expected", [
    ("topics: [{slug: a, name: A, query: x, colour: red}]", "topic 'a': field 'colour': Extra inputs"),
    ("topics: [{slug: a, name: A, query: x, max_papers: 0}]", "topic 'a': field 'max_papers'"),
    ("topics: [{slug: a, name: A, query: 虚拟人}]", "topic 'a': field 'query'"),
    ("topics: [{slug: a, name: A, query: x, language: fr}]", "topic 'a': field 'language'"),
    ("topics: [{name: A, query: x}]", "topic #1: field 'slug'"),
    ("topics: [{slug: a, name: A, query: x}, {slug: a, name: B, query: y}]", "duplicate slug"),
    ("themes: []", "field 'themes'"),
    ("topics: [", "not valid YAML"),
    ("- a\n- b", "expected a mapping"),
])
def test_malformed_topics_file_is_one_line(tmp_path, text, expected):
    path = tmp_path / "topics.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PaperpressError) as err:
        load_topics(path)
    message = str(err.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_unknown_topic_suggests_nearest():
    topics = load_topics(ROOT / "topics.yml")
    with pytest.raises(PaperpressError, match="did you mean 'talking-head'"):
        find_topic(topics, "talking-heads")


@pytest.mark.parametrize("text, expected", [
    ("2024-13-01", "expected YYYY-MM-DD"), ("20240401", "expected YYYY-MM-DD"), ("yesterday", "expected"),
    ("2999-01-01", "in the future"), ("1990-01-01", "arXiv starts"),
])
def test_bad_dates(text, expected):
    with pytest.raises(PaperpressError, match=expected):
        parse_date(text, today=dt.date(2026, 11, 25))


def test_settings_from_environment_and_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("GEMINI_API_KEY=from-dotenv\nPAPERPRESS_ARXIV_API_URL=http://127.0.0.1:1/api\n")
    settings = load_settings({"PAPERPRESS_ARXIV_API_URL": "http://127.0.0.1:2/api"}, dotenv=dotenv)
    assert settings.arxiv_api_url == "http://127.0.0.1:2/api"  # the environment wins over .env
    assert settings.has_key and "from-dotenv" not in repr(settings)


def test_window_days_is_refused_with_what_replaced_it(tmp_path):
    path = tmp_path / "topics.yml"
    path.write_text("topics: [{slug: a, name: A, query: x, window_days: 1}]")
    with pytest.raises(PaperpressError) as caught:
        load_topics(path)
    assert "topic 'a': field 'window_days'" in str(caught.value) and "one arXiv mailing" in str(caught.value)
    assert "lookback_days" in str(caught.value)
    path.write_text("topics: [{slug: a, name: A, query: x}]")
    assert load_topics(path)["a"].lookback_days == 7


def test_openalex_key_is_read_and_blotted_out_in_every_form(tmp_path):
    from paperpress.config import blot_secrets

    key = "oa/key+with=odd chars"
    settings = load_settings({"OPENALEX_API_KEY": f" {key}\n", "GEMINI_API_KEY": "g" * 39}, dotenv=tmp_path / "none")
    assert settings.openalex_api_key == key and key not in repr(settings)
    url = "http://127.0.0.1:1/works/doi:x?api_key=oa%2Fkey%2Bwith%3Dodd+chars&select=id"  # as requests encodes it
    assert blot_secrets(f"{url} {key} {'g' * 39}", settings) == (
        "http://127.0.0.1:1/works/doi:x?api_key=[key]&select=id [key] [key]")
    assert blot_secrets("a short key stays", load_settings({"OPENALEX_API_KEY": "a"}, dotenv=tmp_path / "none")) == (
        "a short key stays")


def test_a_command_without_an_openalex_key_warns_once_and_goes_on(tmp_path):
    from .helpers import make_project, run_cli

    project = make_project(tmp_path)
    env = {"GEMINI_API_KEY": "g" * 39, "PAPERPRESS_NOW": "2026-11-30T12:00:00Z", "OPENALEX_API_KEY": ""}
    result = run_cli(project, "run", "--all-topics", "--date", "2026-11-28", env=env)  # a Saturday: no mailing
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: no OpenAlex API key: set OPENALEX_API_KEY") == 1, result.stderr
    assert result.stdout.count("no post for") == len(load_topics(project / "topics.yml"))  # every topic went on
    keyed = run_cli(project, "run", "--all-topics", "--date", "2026-11-28", env=env | {"OPENALEX_API_KEY": "k" * 30})
    assert keyed.returncode == 0 and "OpenAlex" not in keyed.stderr
    offline = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", "2024-01-06", "--offline", "--no-trends",
                      env=env)
    assert "OpenAlex" not in offline.stderr  # an offline run asks OpenAlex nothing
