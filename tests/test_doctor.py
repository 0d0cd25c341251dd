"""`paperpress doctor`: which renderer `render` uses, the site's address, and `--live` against loopback fakes."""

import re
import stat

import pytest

from paperpress import doctor, site

from .fakes.arxiv import FakeArxiv, unused_url
from .fakes.gemini import FAKE_KEY, FakeGemini, Reply, error_body
from .fakes.openalex import FakeOpenAlex
from .fakes.pdfs import make_pdf
from .helpers import ROOT, make_project, run_cli

KNOWN = {"arxiv_id": "1706.03762", "version": "v7", "title": "Attention Is All You Need",
         "authors": ["Ashish Vaswani", "Noam Shazeer"], "published": "2017-06-12T17:57:34Z",
         "abstract": "We propose a new simple network architecture, the Transformer, based solely on attention.",
         "categories": ["cs.CL", "cs.LG"]}
# The body Google answers when the project's Generative Language API is off (HTTP 403, SERVICE_DISABLED),
# as users have pasted it: google/generative-ai-docs#74, phateio/kiris#39.
DISABLED = ("Generative Language API has not been used in project 123456789012 before or it is disabled. Enable it "
            "by visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview"
            "?project=123456789012 then retry. If you enabled this API recently, wait a few minutes for the action to "
            "propagate to our systems and retry.")


def service_disabled() -> Reply:
    """Gemini's 403 for a project whose API is disabled, with its ErrorInfo detail."""
    body = error_body(403, "PERMISSION_DENIED", DISABLED)
    body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                                 "domain": "googleapis.com",
                                 "metadata": {"service": "generativelanguage.googleapis.com",
                                              "consumer": "projects/123456789012"}}]
    return Reply(status=403, body=body)


@pytest.fixture
def services():
    """arXiv (with the known paper's PDF), OpenAlex (with its work) and Gemini, and the environment for them."""
    with FakeArxiv([KNOWN]) as arxiv, FakeOpenAlex() as openalex, FakeGemini() as gemini:
        arxiv.add_pdf("1706.03762v7", make_pdf(title=KNOWN["title"], authors=[("Ashish Vaswani", 1)],
                                               affiliations=["Google Brain"]))
        openalex.add_work("1706.03762", [("Ashish Vaswani", [("Google (United States)", "https://ror.org/00njsd438",
                                                                "US")])], title=KNOWN["title"])
        yield arxiv, openalex, gemini, arxiv.env() | openalex.env() | gemini.env()


def lines_of(output: str) -> dict[str, str]:
    """Doctor's lines by what they check: {'arXiv': 'ok  …', …}."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^\s*(ok|warn|fail)  (\S+)\s+(.*)$", line)
        if match:
            found[match.group(2)] = f"{match.group(1)}  {match.group(3)}"
    return found


def test_live_reaches_every_service(tmp_path, services):
    arxiv, openalex, gemini, env = services
    result = run_cli(make_project(tmp_path), "doctor", "--live", env=env)
    lines = lines_of(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines["arXiv"].startswith("ok  1706.03762v7 “Attention Is All You Need” from http://127.0.0.1:")
    assert lines["PDF"].startswith("ok  ") and "/pdf/1706.03762v7" in lines["PDF"]
    assert lines["OpenAlex"].startswith("ok  ") and "1 institution(s)" in lines["OpenAlex"]
    assert lines["Gemini"].startswith("ok  gemini-") and "a valid structured answer" in lines["Gemini"]
    [query] = arxiv.api_requests
    assert query.params["max_results"] == "1" and "Attention Is All You Need" in query.params["search_query"]
    assert [r.path for r in arxiv.pdf_requests] == ["/pdf/1706.03762v7"]
    assert openalex.requests[0].path.lower() == "/works/doi:10.48550/arxiv.1706.03762"
    [call] = gemini.requests  # one structured call, as a run makes it
    assert call.body["generationConfig"]["responseMimeType"] == "application/json" and call.system
    assert FAKE_KEY not in result.stdout + result.stderr


def test_live_gives_geminis_own_message_and_fails(tmp_path, services):
    _arxiv, _openalex, gemini, env = services
    gemini.queue(service_disabled())
    result = run_cli(make_project(tmp_path), "doctor", "--live", env=env)
    lines = lines_of(result.stdout)
    assert result.returncode == 1
    assert lines["Gemini"].startswith("fail  ") and f"HTTP 403 PERMISSION_DENIED: {DISABLED}" in lines["Gemini"]
    assert lines["arXiv"].startswith("ok") and lines["OpenAlex"].startswith("ok") and lines["PDF"].startswith("ok")
    assert "1 problem(s)" in result.stdout and FAKE_KEY not in result.stdout + result.stderr


def test_live_says_which_service_is_unreachable(tmp_path, services):
    arxiv, _openalex, _gemini, env = services
    arxiv.fail_pdf(404)
    env = env | {"PAPERPRESS_OPENALEX_URL": unused_url()}
    result = run_cli(make_project(tmp_path), "doctor", "--live", env=env)
    lines = lines_of(result.stdout)
    assert result.returncode == 1
    assert re.match(r"fail  OpenAlex unreachable at http://127\.0\.0\.1:\d+: .*Connection refused", lines["OpenAlex"])
    assert lines["PDF"].startswith("fail  ") and lines["PDF"].endswith("/pdf/1706.03762v7: missing (HTTP 404 Not Found)")
    assert lines["arXiv"].startswith("ok") and lines["Gemini"].startswith("ok")


def test_live_without_a_key_fails_gemini(tmp_path, services):
    _arxiv, _openalex, gemini, env = services
    env = {k: v for k, v in env.items() if k != "GEMINI_API_KEY"}
    result = run_cli(make_project(tmp_path), "doctor", "--live", env=env)
    assert result.returncode == 1 and lines_of(result.stdout)["Gemini"].startswith("fail  no Gemini API key")
    assert not gemini.requests


OPENALEX_KEY = "oa-key-" + "7" * 24  # a key long enough to be blotted out (config.blot_secrets)


def test_doctor_says_whether_an_openalex_key_is_set_and_live_sends_it(tmp_path, services):
    _arxiv, _openalex, _gemini, env = services
    without = run_cli(make_project(tmp_path), "doctor", env=env | {"OPENALEX_API_KEY": ""})
    assert re.search(r"^warn  OpenAlex key +not set: set OPENALEX_API_KEY ", without.stdout, re.M), without.stdout
    with FakeOpenAlex(api_key=OPENALEX_KEY) as openalex:
        openalex.add_work("1706.03762", [("Ashish Vaswani", [("Google (United States)", "https://ror.org/00njsd438", "US")])])
        result = run_cli(make_project(tmp_path / "p"), "doctor", "--live", env=env | openalex.env())
        lines = lines_of(result.stdout)
        assert result.returncode == 0, result.stdout
        assert lines["OpenAlex"].startswith("ok  https://openalex.org/W")  # the live line (after the key's)
        assert re.search(r"^  ok  OpenAlex key +set \(not shown\)$", result.stdout, re.M), result.stdout
        assert openalex.requests[0].params["api_key"] == OPENALEX_KEY
    assert OPENALEX_KEY not in result.stdout + result.stderr


def test_live_blots_the_openalex_key_out_of_the_servers_message(tmp_path, services):
    _arxiv, _openalex, _gemini, env = services
    with FakeOpenAlex(api_key=OPENALEX_KEY) as openalex:
        openalex.reject_query()  # a 400 whose message repeats the query, key included
        result = run_cli(make_project(tmp_path), "doctor", "--live", env=env | openalex.env())
    line = next(line for line in result.stdout.splitlines() if "HTTP 400" in line)
    assert result.returncode == 1 and "Invalid query parameters" in line and "api_key=[key]" in line, line
    assert OPENALEX_KEY not in result.stdout + result.stderr
    wrong = FakeOpenAlex(api_key="another-key-0000000000")
    with wrong:
        result = run_cli(make_project(tmp_path / "p"), "doctor", "--live", env=env | wrong.env() | {"OPENALEX_API_KEY": OPENALEX_KEY})
    assert "HTTP 401" in result.stdout and OPENALEX_KEY not in result.stdout + result.stderr


def test_renderer_is_quarto_on_path_else_the_preview(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(doctor.sys, "executable", str(tmp_path / "python"))  # nothing beside this Python either
    status, _what, detail = doctor.check_renderer()
    assert status == "warn" and "builds the pandoc" in detail and "preview" in detail and ".[quarto]" in detail
    quarto = tmp_path / "quarto"
    quarto.write_text("#!/bin/sh\n", encoding="utf-8")
    quarto.chmod(quarto.stat().st_mode | stat.S_IXUSR)
    assert doctor.check_renderer() == ("ok", "renderer", f"quarto at {quarto}: `paperpress render` runs `quarto render`")


def test_pip_quarto_cli_runs_its_binary_not_its_wrapper(tmp_path, monkeypatch):
    # quarto-cli's sdist fetches Quarto into quarto_cli/quarto-<version>/ and installs a `quarto` script that
    # runs it but returns no exit code (setup.py: "quarto = quarto_cli:run_quarto"); we run the binary.
    package = tmp_path / "lib" / "quarto_cli"
    binary = package / "quarto-1.9.9" / "bin" / "quarto"
    binary.parent.mkdir(parents=True)
    (package / "__init__.py").write_text("def run_quarto():\n    pass\n", encoding="utf-8")
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    wrapper = venv_bin / "quarto"
    wrapper.write_text("#!/venv/bin/python\nimport sys\nfrom quarto_cli import run_quarto\n"
                       "if __name__ == '__main__':\n    sys.exit(run_quarto())\n", encoding="utf-8")
    for path in (wrapper, binary):
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(site.sys, "executable", str(venv_bin / "python"))  # pip put the script beside this Python
    assert site.find_quarto() == str(binary)


def test_site_url_placeholder_is_warned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERPRESS_SITE_URL", raising=False)
    (tmp_path / "_quarto.yml").write_bytes((ROOT / "_quarto.yml").read_bytes())
    status, _what, detail = doctor.check_site_url()
    assert status == "warn" and "placeholder https://example.github.io/paperpress" in detail and "SITE_URL" in detail
    monkeypatch.setenv("PAPERPRESS_SITE_URL", "https://ada.github.io/digest")
    assert doctor.check_site_url()[:2] == ("ok", "site-url")
    monkeypatch.delenv("PAPERPRESS_SITE_URL")
    text = (tmp_path / "_quarto.yml").read_text(encoding="utf-8").replace(
        "https://example.github.io/paperpress", "https://ada.github.io/digest")
    (tmp_path / "_quarto.yml").write_text(text, encoding="utf-8")
    assert doctor.check_site_url() == ("ok", "site-url", "https://ada.github.io/digest (_quarto.yml)")


@pytest.mark.parametrize("now, status, years", [
    ("2026-06-01T12:00:00Z", "ok", "2026"),  # 2026 is in the file; New Year is far
    ("2026-11-01T12:00:00Z", "ok", "2026"),  # 61 days before 2027: not yet
    ("2026-11-02T12:00:00Z", "warn", "2027"),  # 60 days before: 2027's are wanted (not published yet)
    ("2026-12-31T23:00:00-05:00", "warn", "2027"),  # the project's clock is UTC: already 2027 there
    ("2028-03-01T12:00:00Z", "warn", "2028"),  # this year's are missing
])
def test_doctor_warns_when_the_holiday_table_lacks_a_year(monkeypatch, now, status, years):
    monkeypatch.setenv("PAPERPRESS_NOW", now)
    found, what, detail = doctor.check_holidays()
    assert (found, what) == (status, "holidays"), detail
    assert years in detail
    if status == "warn":
        assert "holidays.yml lacks arXiv's holidays of" in detail and "info.arxiv.org/help/availability.html" in detail


def test_doctor_prints_the_holidays_line_by_the_project_clock(tmp_path):
    result = run_cli(make_project(tmp_path), "doctor", env={"PAPERPRESS_NOW": "2026-12-06T12:00:00Z"})
    assert re.search(r"^warn  holidays +lib/paperpress/data/holidays.yml lacks arXiv's holidays of 2027:", result.stdout,
                     re.M), result.stdout
