"""The e-mail digest against a real SMTP server on loopback (aiosmtpd): each TLS mode with login, the messages
parsed, refusals and a dropped connection retried by the next run, nothing sent twice, no password anywhere."""

from __future__ import annotations

import base64
import json
import os
import shutil
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest

from paperpress import mail
from paperpress.config import PaperpressError, load_mail_settings

from .fakeposts import HOSTILE_TITLE, make_digest, make_paper, write_post
from .fakes.smtp import PASSWORD, USER, Mailbox, make_certificate, smtp_server
from .helpers import add_site_files, files_holding, make_project, require, run_cli
from .test_topicpages import make_site

# aiosmtpd warns that SMTP_TLS=none takes a login without TLS: that mode is tested on purpose (a local relay).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
SITE = "https://reader.example.org/digest"
READERS = "ada@example.org, Bob <bob@example.net>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the loopback server (openssl)."""
    require(bool(shutil.which("openssl")), "openssl not found (it makes the test server's certificate)")
    return make_certificate(tmp_path_factory.mktemp("tls"))


def mail_env(port: int, mode: str, cert: Path, **more: str) -> dict[str, str]:
    """The environment `paperpress mail` reads; the client trusts the test's certificate through SSL_CERT_FILE."""
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": mode, "SMTP_USER": USER,
           "SMTP_PASSWORD": PASSWORD, "SMTP_FROM": "arXiv digest <digest@example.org>", "PAPERPRESS_MAIL_TO": READERS,
           "PAPERPRESS_SITE_URL": SITE, "SSL_CERT_FILE": str(cert)}
    env.update(more)
    return env


class Links(HTMLParser):
    """The links, titles and scripts of an HTML part."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.titles: list[str] = []
        self.tags: set[str] = set()
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.in_title |= tag == "h2"
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        self.in_title &= tag != "h2"

    def handle_data(self, data):
        if self.in_title:
            self.titles.append(data)


def read_parts(message) -> tuple[str, str]:
    """The plain-text and HTML parts of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    return parts["text/plain"], parts["text/html"]


def password_forms() -> list[str]:
    """The password in clear, in base64 alone (AUTH LOGIN) and in AUTH PLAIN's base64 blob."""
    return [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
            base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()]


def secrets_in(text: str) -> list[str]:
    """The password's forms that occur in text."""
    return [form for form in password_forms() if form in text]


@pytest.mark.parametrize("mode", ["starttls", "ssl", "none"])
def test_each_recipient_gets_their_own_message_in_each_tls_mode(tmp_path, certificate, mode):
    root = make_site(tmp_path)
    with smtp_server(mode, *certificate) as (port, box):
        result = run_cli(root, "mail", "--topic", "talking-head", env=mail_env(port, mode, certificate[0]))
    assert result.returncode == 0, result.stderr
    assert "2 of 2 messages sent (2024-04-02)" in result.stdout  # the first time: the latest mailing only
    assert box.logins == [(USER.encode(), PASSWORD.encode())]  # one session, one login
    assert box.secure == [mode != "none"] * 2
    assert sorted(rcpts for _, rcpts in box.envelopes) == [["ada@example.org"], ["bob@example.net"]]
    for message, (sender, rcpts) in zip(box.messages, box.envelopes):
        assert sender == "digest@example.org"
        assert message["To"].addresses[0].addr_spec == rcpts[0] and len(message["To"].addresses) == 1
        assert message["Cc"] is None and message["Bcc"] is None  # no one sees another reader's address
        assert message["Subject"] == "Talking Head Generation: arXiv papers of 2024-04-02"
        assert message["Content-Language"] == "en"
        plain, page = read_parts(message)
        post = f"{SITE}/posts/2024-04-02-talking-head/index.html"
        for part in (plain, page):
            assert f"{post}#arxiv-2404.00002" in part and "https://arxiv.org/abs/2404.00002v1" in part
            assert f"{post}#arxiv-2404.00004" in part  # listed briefly: in the message too
        assert HOSTILE_TITLE in plain and "One line on" in plain and "<Eve> *Evil*, Bob" in plain
        links = Links()
        links.feed(page)
        assert "script" not in links.tags and "b" not in links.tags  # the hostile title adds no markup
        assert HOSTILE_TITLE in "".join(links.titles)  # ... and reads as it is
        assert all(href.startswith(("https://reader.example.org/", "https://arxiv.org/")) for href in links.hrefs)
    records = json.loads((root / "posts" / "_mailings" / "talking-head.sent.json").read_text(encoding="utf-8"))
    keys = sorted(mail.recipient_key(a) for a in ("ada@example.org", "bob@example.net"))
    assert records == {"since": {k: "2024-04-02" for k in keys}, "sent": {"2024-04-02": keys}}
    assert "example.org" not in json.dumps(records)  # committed with the posts: hashes, not addresses
    assert not secrets_in(result.stdout + result.stderr)
    for form in password_forms():
        assert not files_holding(root, form), form  # records, work files, logs: nowhere


def test_chinese_topic_mail_is_in_chinese(tmp_path, certificate):
    root = make_site(tmp_path)
    with smtp_server("starttls", *certificate) as (port, box):
        result = run_cli(root, "mail", "--topic", "head", env=mail_env(port, "starttls", certificate[0]))
    assert result.returncode == 0, result.stderr
    message = box.messages[0]
    assert message["Subject"] == "Head Avatars：2024-04-01 arXiv 论文" and message["Content-Language"] == "zh-Hans"
    plain, page = read_parts(message)
    assert "共 1 篇论文" in plain and "文章中查看" in page and 'lang="zh-Hans"' in page
    assert f"文章中查看：{SITE}/posts/2024-04-01-head/index.html#arxiv-2404.00005" in plain


def test_nothing_sent_twice_and_the_next_mailing_follows(tmp_path, certificate):
    root = make_site(tmp_path)
    env = lambda port: mail_env(port, "starttls", certificate[0])  # noqa: E731
    with smtp_server("starttls", *certificate) as (port, box):
        assert run_cli(root, "mail", "--topic", "talking-head", env=env(port)).returncode == 0
        again = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
        assert again.returncode == 0 and "nothing new to send" in again.stdout and len(box.messages) == 2
        write_post(root / "posts", make_digest("talking-head", "Talking Head Generation", "2024-04-03",
                                               [make_paper("2404.00009", "Next day")]))
        write_post(root / "posts", make_digest("talking-head", "Talking Head Generation", "2024-04-04",
                                               [make_paper("2404.00010", "Day after")]))
        later = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
    assert later.returncode == 0, later.stderr
    assert "4 of 4 messages sent (2024-04-03, 2024-04-04)" in later.stdout  # every mailing since, oldest first
    assert [m["Subject"][-10:] for m in box.messages[2:]] == ["2024-04-03"] * 2 + ["2024-04-04"] * 2


def test_a_refused_recipient_is_sent_by_the_next_run(tmp_path, certificate):
    root = make_site(tmp_path)
    env = lambda port: mail_env(port, "ssl", certificate[0])  # noqa: E731
    with smtp_server("ssl", *certificate, Mailbox(refuse=("bob@example.net",))) as (port, box):
        first = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
    assert first.returncode == 4
    errors = first.stderr.strip().splitlines()
    assert len(errors) == 1 and "550 5.1.1" in errors[0] and "the next run sends them" in errors[0]
    assert [rcpts for _, rcpts in box.envelopes] == [["ada@example.org"]]
    with smtp_server("ssl", *certificate) as (port, box):
        second = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
    assert second.returncode == 0, second.stderr
    assert [rcpts for _, rcpts in box.envelopes] == [["bob@example.net"]]  # only what was not acknowledged


def test_a_connection_dropped_mid_send_is_sent_by_the_next_run(tmp_path, certificate):
    root = make_site(tmp_path)
    env = lambda port: mail_env(port, "starttls", certificate[0])  # noqa: E731
    with smtp_server("starttls", *certificate, Mailbox(drop_first=1)) as (port, box):
        first = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
    assert first.returncode == 4 and "connection closed by the server" in first.stderr
    assert len(first.stderr.strip().splitlines()) == 1
    assert [rcpts for _, rcpts in box.envelopes] == [["bob@example.net"]]  # a new session for the next message
    with smtp_server("starttls", *certificate) as (port, box):
        second = run_cli(root, "mail", "--topic", "talking-head", env=env(port))
    assert second.returncode == 0 and [rcpts for _, rcpts in box.envelopes] == [["ada@example.org"]]


def test_an_unreachable_server_is_one_line_and_its_own_exit_code(tmp_path, certificate):
    root = make_site(tmp_path)
    with smtp_server("none", *certificate) as (port, _):
        pass  # stopped: nobody listens on the port now
    result = run_cli(root, "mail", "--topic", "talking-head", env=mail_env(port, "none", certificate[0]))
    assert result.returncode == 4 and len(result.stderr.strip().splitlines()) == 1
    assert "ConnectionRefusedError" in result.stderr
    records = json.loads((root / "posts" / "_mailings" / "talking-head.sent.json").read_text(encoding="utf-8"))
    assert records["sent"] == {}  # nothing acknowledged, so the next run sends it all


def test_an_untrusted_certificate_is_refused(tmp_path, certificate):
    root = make_site(tmp_path)
    with smtp_server("starttls", *certificate) as (port, box):
        env = {k: v for k, v in mail_env(port, "starttls", certificate[0]).items() if k != "SSL_CERT_FILE"}
        result = run_cli(root, "mail", "--topic", "talking-head", env={**env, "SSL_CERT_FILE": os.devnull})
    assert result.returncode == 4 and "CERTIFICATE_VERIFY_FAILED" in result.stderr and not box.messages
    assert not box.logins  # the password never went to a server that could not prove who it is


def test_wrong_password_is_refused_and_never_echoed(tmp_path, certificate):
    root = make_site(tmp_path)
    with smtp_server("starttls", *certificate) as (port, box):
        result = run_cli(root, "mail", "--topic", "talking-head",
                         env=mail_env(port, "starttls", certificate[0], SMTP_PASSWORD="wrong-" + PASSWORD))
    assert result.returncode == 4 and "535" in result.stderr and not box.messages
    assert PASSWORD not in result.stdout + result.stderr


def test_placeholder_site_url_refuses_in_one_line(tmp_path, certificate):
    root = make_site(tmp_path)
    with smtp_server("none", *certificate) as (port, box):
        env = {k: v for k, v in mail_env(port, "none", certificate[0]).items() if k != "PAPERPRESS_SITE_URL"}
        result = run_cli(root, "mail", "--topic", "talking-head", env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "PAPERPRESS_SITE_URL" in result.stderr and not box.messages


def test_an_empty_mailing_sends_nothing(tmp_path, certificate):
    root = make_site(tmp_path)
    write_post(root / "posts", make_digest("talking-head", "Talking Head Generation", "2024-04-05", []))
    with smtp_server("none", *certificate) as (port, box):
        result = run_cli(root, "mail", "--topic", "talking-head", "--date", "2024-04-05",
                         env=mail_env(port, "none", certificate[0]))
    assert result.returncode == 0 and "nothing new to send" in result.stdout and not box.messages


def test_dry_run_writes_eml_files_and_sends_nothing(tmp_path):
    root = make_site(tmp_path)
    env = {"PAPERPRESS_MAIL_TO": READERS, "PAPERPRESS_SITE_URL": SITE}
    result = run_cli(root, "mail", "--topic", "talking-head", "--date", "2024-04-01", "--dry-run", "--out", "drafts",
                     env=env)
    assert result.returncode == 0, result.stderr
    drafts = sorted((root / "drafts").glob("*.eml"))
    assert len(drafts) == 2
    message = message_from_bytes(drafts[0].read_bytes(), policy=policy.default)
    assert message["Subject"].endswith("2024-04-01") and "Older talking head" in read_parts(message)[0]
    assert not (root / "posts" / "_mailings" / "talking-head.sent.json").exists()


@pytest.mark.parametrize("env, expected", [
    ({"SMTP_TLS": "tls"}, "SMTP_TLS must be one of starttls, ssl, none"),
    ({"SMTP_HOST": "h", "PAPERPRESS_MAIL_TO": "a@b"}, "SMTP_FROM must be set"),
    ({"SMTP_USER": "u"}, "SMTP_USER and SMTP_PASSWORD go together"),
    ({"PAPERPRESS_MAIL_TO": "not-an-address"}, "PAPERPRESS_MAIL_TO: not an e-mail address"),
    ({"SMTP_PORT": "smtp"}, "SMTP_PORT must be a port number"),
])
def test_bad_mail_settings_are_one_line(env, expected):
    with pytest.raises(PaperpressError, match=expected):
        load_mail_settings(env, dotenv=os.devnull)


def test_mail_settings_ports_and_recipients():
    env = {"SMTP_HOST": "mail.example.org", "SMTP_FROM": "d@example.org", "PAPERPRESS_MAIL_TO": "a@x.org, b@x.org",
           "PAPERPRESS_MAIL_TO_TALKING_HEAD": "c@x.org"}
    settings = load_mail_settings(env, dotenv=os.devnull)
    assert settings.port == 587 and settings.tls == "starttls"
    assert load_mail_settings({**env, "SMTP_TLS": "ssl"}, dotenv=os.devnull).port == 465
    assert load_mail_settings({**env, "SMTP_TLS": "ssl", "SMTP_PORT": "2465"}, dotenv=os.devnull).port == 2465
    assert settings.recipients("talking-head") == ("c@x.org",) and settings.recipients("nerf") == ("a@x.org", "b@x.org")
    assert PASSWORD not in repr(load_mail_settings({**env, "SMTP_USER": "u", "SMTP_PASSWORD": PASSWORD}, dotenv=os.devnull))


@pytest.mark.slow
def test_run_mails_after_publishing_and_a_mail_failure_keeps_the_post(tmp_path, certificate):
    project = add_site_files(make_project(tmp_path))
    day = ["run", "--topic", "metaverse-avatars", "--offline", "--no-trends", "--date"]
    with smtp_server("starttls", *certificate) as (port, box):
        result = run_cli(project, *day, "2024-04-01", env=mail_env(port, "starttls", certificate[0]))
    assert result.returncode == 0, result.stderr
    assert "2 of 2 messages sent (2024-04-01)" in result.stdout and len(box.messages) == 2
    assert box.messages[0]["Subject"] == "元宇宙/虚拟人：2024-04-01 arXiv 论文"
    assert "#arxiv-2403.16510" in read_parts(box.messages[0])[1]
    with smtp_server("starttls", *certificate, Mailbox(refuse=("ada@example.org", "bob@example.net"))) as (port, box):
        refused = run_cli(project, *day, "2024-04-06", env=mail_env(port, "starttls", certificate[0]))
    assert refused.returncode == 4, refused.stderr  # mail's own exit code, after the post was published
    assert (project / "posts" / "2024-04-06-metaverse-avatars" / "index.ipynb").is_file()
    assert "the next run sends them" in refused.stderr
    for form in password_forms():  # the kernel's log, the work folder, the post: nowhere
        assert form not in result.stdout + result.stderr + refused.stdout + refused.stderr
        assert not files_holding(project, form), form


def test_workflow_mails_after_deploy_and_commits_its_records_even_when_mail_fails(root, tmp_path):
    import subprocess
    import sys

    import yaml

    steps = yaml.safe_load((root / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))["jobs"]["publish"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    mail_step = next(i for i, step in enumerate(steps) if "paperpress mail" in step.get("run", ""))
    assert mail_step > uses.index("quarto-dev/quarto-actions/publish@v2")  # after the site is live
    # The step's script, with stand-ins: a `paperpress` that fails as an unacknowledged send does, and a `git`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "paperpress").write_text('#!/bin/sh\necho "$@ to=$PAPERPRESS_MAIL_TO_NERF" >> calls\nexit 4\n')
    (bin_dir / "git").write_text('#!/bin/sh\necho "git $@" >> calls\n[ "$2" = "--cached" ] && exit 1\nexit 0\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)  # setup-python's `python`
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SMTP_HOST": "mail.example.org",
           "SECRETS_JSON": json.dumps({"PAPERPRESS_MAIL_TO_NERF": "a@x.org, 'quoted' $(touch pwned)",
                                       "GEMINI_API_KEY": "not-exported"})}
    done = subprocess.run(["bash", "-e", "-c", steps[mail_step]["run"]], cwd=tmp_path, env=env, capture_output=True,
                          text=True)
    calls = (tmp_path / "calls").read_text(encoding="utf-8").splitlines()
    assert done.returncode == 4  # the step fails, saying why, after the records are committed
    assert calls[0] == "mail --all-topics to=a@x.org, 'quoted' $(touch pwned)" and not (tmp_path / "pwned").exists()
    assert calls[1:] == ["git add -f posts/_mailings", "git diff --cached --quiet", "git commit -m " + calls[3][14:],
                         "git push"]


def test_doctor_reports_mail_without_addresses_or_password(tmp_path, monkeypatch, root):
    from paperpress import doctor

    monkeypatch.chdir(tmp_path)  # no .env here
    for name in [n for n in os.environ if n.startswith(("SMTP_", "PAPERPRESS_MAIL_TO"))]:
        monkeypatch.delenv(name)
    topics = str(root / "topics.yml")
    assert doctor.check_mail(topics)[0] == "ok" and "off" in doctor.check_mail(topics)[2]
    monkeypatch.setenv("SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SMTP_FROM", "digest@example.org")
    assert doctor.check_mail(topics)[0] == "warn"  # a server but nobody to mail
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("PAPERPRESS_MAIL_TO_NERF", "ada@example.org, bob@example.net")
    status, _, detail = doctor.check_mail(topics)
    assert status == "ok" and detail == "mail.example.org:587 (starttls, login); recipients: nerf 2"
    monkeypatch.setenv("SMTP_TLS", "tls")
    assert doctor.check_mail(topics)[0] == "fail"


def test_run_reports_a_bad_mail_setting_as_mails_own_error(tmp_path, monkeypatch, root, capsys):
    import argparse

    from paperpress import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTP_TLS", "tls")
    args = argparse.Namespace(topics_file=str(root / "topics.yml"), all_topics=False, topic="nerf", posts_dir="posts")
    assert cli.mail_after_run(args) == 4  # the posts are written: not exit 2 ("nothing written")
    assert capsys.readouterr().err.strip() == "paperpress: error: mail: SMTP_TLS must be one of starttls, ssl, none (got 'tls')"
    monkeypatch.delenv("SMTP_TLS")
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert cli.mail_after_run(args) == 0  # mail not set up: nothing to do, nothing said


def test_two_mail_runs_at_once_send_each_message_once(tmp_path, certificate):
    import subprocess

    from .helpers import BIN

    root = make_site(tmp_path)
    with smtp_server("none", *certificate, Mailbox(delay=0.5)) as (port, box):
        env = {**os.environ, **mail_env(port, "none", certificate[0])}
        runs = [subprocess.Popen([str(BIN / "paperpress"), "mail", "--topic", "talking-head"], cwd=root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(rcpts for _, rcpts in box.envelopes) == [["ada@example.org"], ["bob@example.net"]]
