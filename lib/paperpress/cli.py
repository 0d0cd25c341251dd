"""Command line: parse arguments and hand each subcommand to its stage (run, backfill, trends, render, demo, doctor)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from . import __version__, catchup, mailings, publish
from .archive import record_mailing
from .config import PaperpressError, check_overrides, find_topic, load_settings, load_topics, parse_date, read_now
from .config import warn_openalex_key
from .publish import EXIT_FAILED, EXIT_MAIL, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, SEVERITY, rebuild_trends, report_failure
from .summarise import check_summariser

EPILOG = """exit codes: 0 done (or nothing new: an empty mailing, a day without one, a topic up to date),
1 the notebook failed (no post written), 2 bad input or environment (nothing written),
3 post written but some summaries are missing, or earlier posts still lack some (the next run fills them),
4 posts written but some e-mail was not sent (the next run sends it)"""
MAIL_TEXT = """Sends a topic's e-mail digest: one message per mailing and recipient, each recipient their own.
Without --date: every mailing posted since the recipient's first (the first time: the latest one only)
that the server has not acknowledged yet; what it acknowledged is recorded in posts/_mailings/<slug>.sent.json.
Settings come from the environment only: SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM,
SMTP_TLS (starttls, the default, port 587; ssl, port 465; none), recipients in PAPERPRESS_MAIL_TO_<SLUG>
(slug upper-cased, - as _), else PAPERPRESS_MAIL_TO (comma-separated), and the site's address
(PAPERPRESS_SITE_URL or site-url in _quarto.yml) for the links.
"""
MAIL_EPILOG = """exit codes: 0 sent (or nothing new to send), 2 bad input or settings (nothing sent),
4 some message was not acknowledged by the server (refused, unreachable, connection dropped): the next run sends it"""
RUN_TEXT = """A post is one arXiv mailing, dated as arXiv lists it (Monday to Friday, none on arXiv's holidays).
Without --date, run posts every mailing after the topic's last post up to the latest one arXiv has
announced (20:00 US Eastern), oldest first: a missed day is caught up by the next run.
Then (live runs, and backfill too) the topic's earlier posts that lack summaries get them, from the cache
or the model within the day's budget; nothing else of those posts changes (--force rebuilds a post whole).
"""


def add_post_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `run` and `backfill`: where posts come from and go."""
    parser.add_argument("--offline", action="store_true",
                        help="embedded/JSONL sample source and offline extractive summariser: no network, no key")
    parser.add_argument("--sample", default="", metavar="JSONL",
                        help="with --offline: JSONL in the sample format (default: the embedded archive, 37 days of 2024)")
    parser.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    parser.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")
    parser.add_argument("--template", default="notebooks/digest.ipynb", help="post template notebook")
    parser.add_argument("--model", default="", help="model: gemini:<model>, openai:<model> (any OpenAI-compatible server, "
                        "OPENAI_BASE_URL) or a bare Gemini name (default: the topic's, else PAPERPRESS_MODEL)")
    parser.add_argument("--max-papers", type=int, default=None,
                        help="papers with a full summary per post, 1-200; the others are listed briefly (default: the topic's)")
    parser.add_argument("--lookback-days", type=int, default=None,
                        help="days before a mailing's window searched for late papers, 0-31 (default: the topic's, 7)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="publish a short 'no new papers' post for an empty mailing")
    parser.add_argument("--trends-dir", default="trends", help="folder of the topics' trends pages (default: trends)")
    parser.add_argument("--no-trends", action="store_true", help="do not rebuild the topic's trends page afterwards")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    parser = argparse.ArgumentParser(prog="paperpress", description="Daily arXiv digests as Quarto blog posts.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"paperpress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="post the arXiv mailings a topic (or every topic) has not posted yet",
                         description=RUN_TEXT, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic", help="topic slug from the topics file")
    which.add_argument("--all-topics", action="store_true", help="every topic of the topics file, one after another")
    run.add_argument("--date", help="post this one mailing, by the date arXiv lists it (YYYY-MM-DD; with --offline: "
                                    "a day of the sample). Default: every mailing since the topic's last post")
    add_post_options(run)

    backfill = sub.add_parser("backfill", help="build the posts of a topic for the mailings of a range of days, in parallel",
                              description="One arXiv query for the whole range (paged), split into its mailings; "
                                          "days without a mailing are skipped.",
                              epilog="exit codes: 0 every mailing posted or empty, 1 some mailing failed, "
                                     "2 bad input, 3 some summaries missing")
    backfill.add_argument("--topic", required=True, help="topic slug from the topics file")
    backfill.add_argument("--from", dest="start", required=True, help="first mailing date, YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, help="last mailing date, YYYY-MM-DD")
    backfill.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                          help="papermill runs at once (default: the number of cores)")
    backfill.add_argument("--force", action="store_true", help="rebuild days that already have a post")
    add_post_options(backfill)

    trends = sub.add_parser("trends", help="build the trends page of one topic (or every topic) from its posts")
    which = trends.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic", help="topic slug from the topics file")
    which.add_argument("--all-topics", action="store_true", help="every topic that has posts")
    trends.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    trends.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")
    trends.add_argument("--trends-dir", default="trends", help="folder of trends pages (default: trends)")

    mail = sub.add_parser("mail", help="e-mail a topic's new mailings to its recipients (SMTP settings from the environment)",
                          description=MAIL_TEXT, epilog=MAIL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = mail.add_mutually_exclusive_group(required=True)
    which.add_argument("--topic", help="topic slug from the topics file")
    which.add_argument("--all-topics", action="store_true", help="every topic that has recipients")
    mail.add_argument("--date", help="the mailing to send, by the date arXiv lists it (YYYY-MM-DD); default: every "
                                     "mailing not sent yet")
    mail.add_argument("--dry-run", action="store_true",
                      help="write the messages as .eml files into --out instead of sending them (nothing recorded)")
    mail.add_argument("--out", default=".paperpress/mail", help="folder of the --dry-run messages (default: .paperpress/mail)")
    mail.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    mail.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")

    pages = sub.add_parser("pages", help="write each topic's page (its posts, newest first, and its RSS feed) and the "
                                         "today page from the posts' sidecars (render does it too)")
    pages.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    pages.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")

    rebuild = sub.add_parser("rebuild", help="rebuild published posts in the current layout from their sidecars "
                                             "(no arXiv, PDF or model call), then the trends pages",
                             description="Each post is drawn again by the post template from its digest.json (its "
                                         "papers, summaries and figures as published); a post whose rebuild fails "
                                         "is left as it was.", epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    rebuild.add_argument("--topic", help="topic slug (default: every topic of the topics file that has posts)")
    rebuild.add_argument("--date", default="", help="only the post of this date (YYYY-MM-DD)")
    rebuild.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    rebuild.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")
    rebuild.add_argument("--template", default="notebooks/digest.ipynb", help="post template notebook")
    rebuild.add_argument("--trends-dir", default="trends", help="folder of the topics' trends pages (default: trends)")
    rebuild.add_argument("--no-trends", action="store_true", help="do not rebuild the trends pages afterwards")

    render = sub.add_parser("render", help="write the topic and today pages, then render the site "
                                           "(quarto when installed, else a pandoc preview)")
    render.add_argument("--root", default=".", help="project folder holding _quarto.yml (default: .)")

    demo = sub.add_parser("demo", help="build the demo site: every listed day of the embedded archive offline, "
                                       "its trends page, the site (run in the project folder)")
    demo.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="papermill runs at once (default: the number of cores)")
    demo.add_argument("--rebuild", action="store_true",
                      help="draw the demo's published posts again from their sidecars (`paperpress rebuild`) "
                           "instead of running the archive again")

    doctor = sub.add_parser("doctor", help="check this machine and project, and say what to fix")
    doctor.add_argument("--topics-file", default="topics.yml", help="topics file (default: topics.yml)")
    doctor.add_argument("--posts-dir", default="posts", help="folder of posts (default: posts)")
    doctor.add_argument("--live", action="store_true",
                        help="also make one small real call to arXiv, the configured model (Gemini or an "
                             "OpenAI-compatible server), OpenAlex and a PDF download (exit 1 when one fails)")
    return parser


def check_inputs(args: argparse.Namespace):
    """Validate everything that can be checked before a kernel starts; return (topic, settings)."""
    if args.date:
        parse_date(args.date)
    topic = find_topic(load_topics(args.topics_file), args.topic, args.topics_file)
    check_overrides(args.max_papers, args.lookback_days)
    settings = load_settings()
    if not Path(args.template).is_file():
        raise PaperpressError(f"{args.template}: post template not found (run from the project folder)")
    check_summariser("offline" if args.offline else "model", settings, topic, args.model)
    if not args.offline:
        warn_openalex_key(settings)
    posts = Path(args.posts_dir)
    try:
        posts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PaperpressError(f"{posts}: cannot create the posts folder ({exc.strerror})") from None
    if not os.access(posts, os.W_OK):
        raise PaperpressError(f"{posts}: not writable")
    return topic, settings


def template_parameters(args: argparse.Namespace, staging: Path) -> dict:
    """The notebook's parameters for this run (all of them land in the post: never a secret)."""
    return {
        "date": args.date,
        "topic": args.topic,
        "source": "sample" if args.offline else "arxiv",
        "summariser": "offline" if args.offline else "model",
        "sample_path": args.sample,
        "topics_file": args.topics_file,
        "posts_dir": args.posts_dir,
        "output_dir": staging.as_posix(),
        "max_papers": args.max_papers or 0,  # 0: the topic's
        "lookback_days": -1 if args.lookback_days is None else args.lookback_days,
        "model": args.model,
    }


def run_post(args: argparse.Namespace, km=None) -> int:
    """`paperpress run --date`: one mailing's post, written only when the whole notebook succeeded, then its
    topic's trends page (in the kernel km when given, else in a kernel of its own)."""
    topic, _settings = check_inputs(args)  # before the heavy imports: bad input fails fast
    if not args.offline:  # a sample's days are its mailings
        day = parse_date(args.date)
        warning = mailings.warn_unknown_year(day)
        if warning:
            print(f"paperpress: warning: {warning}", file=sys.stderr)
        why = catchup.check_mailing(day, read_now())
        if why:
            print(f"paperpress: no post for {topic.slug}: {why}")
            return EXIT_OK
    if km is not None:
        return build_post(args, topic, km)
    with publish.open_kernel() as own:  # one kernel for the post and the trends page
        return build_post(args, topic, own)


def build_post(args: argparse.Namespace, topic, km) -> int:
    """The post of one topic and mailing in the kernel km, then the topic's trends page unless --no-trends."""
    from .archive import read_digest

    name = f"{args.date}-{topic.slug}"
    final = Path(args.posts_dir) / name
    work = work_folder(args)  # beside posts/, so the final rename stays on one disk
    try:
        with publish.staging_folder(work, name) as staging:
            publish.execute_template(args.template, staging, template_parameters(args, staging), km)
            result = read_digest(staging)
            if not result.entries and not result.listed and not result.updated and not args.allow_empty:
                print(f"paperpress: no new papers for {topic.slug} in the mailing of {args.date}; no post written")
                record_mailing(args.posts_dir, topic.slug, args.date)
                return EXIT_OK
            publish.finish_post(staging, final)
    except publish.RunFailed as exc:
        return report_failure(exc, args.template)
    record_mailing(args.posts_dir, topic.slug, args.date)
    missing = sum(e.summary is None for e in result.entries)
    print(f"paperpress: wrote {final / 'index.ipynb'} ({len(result.entries)} papers summarised, "
          f"{len(result.listed)} listed briefly, {len(result.updated)} updated)")
    code = EXIT_OK if args.no_trends else rebuild_trends(topic.slug, args.topics_file, args.posts_dir, args.trends_dir, km)
    if missing:
        print(f"paperpress: {missing} summaries unavailable; rerun to fill them", file=sys.stderr)
        return max(code, EXIT_PARTIAL, key=SEVERITY.index)
    return code


def trends_command(args: argparse.Namespace) -> int:
    """`paperpress trends`: the trends page of a topic, or of every topic."""
    slugs = list(load_topics(args.topics_file)) if args.all_topics else [args.topic]
    worst = EXIT_OK
    for slug in slugs:
        worst = max(worst, rebuild_trends(slug, args.topics_file, args.posts_dir, args.trends_dir), key=SEVERITY.index)
    return worst


def run_catch_up(args: argparse.Namespace) -> int:
    """`paperpress run` without --date: every mailing since the topic's last post, oldest first, one post each.

    Live, the mailings' papers come from one arXiv query; a mailing with nothing new starts no kernel. The
    first failed mailing stops the run (the next run starts again there); the trends page is built once.
    """
    topic, settings = check_inputs(args)  # before asking arXiv anything
    dates = catchup.plan_catch_up(args.posts_dir, topic.slug, read_now(), args.sample if args.offline else None)
    if not dates:
        print(f"paperpress: {topic.slug} is up to date: its last post is the latest mailing")
        return EXIT_OK
    each = argparse.Namespace(**{**vars(args), "no_trends": True})
    worst, posted = EXIT_OK, False
    with contextlib.ExitStack() as stack:
        papers = None if args.offline else stack.enter_context(catchup.fetched_once(topic, dates, settings, work_folder(args)))
        windows = catchup.find_windows(topic, dates) if papers is not None else {}
        km = None  # one kernel for every mailing and the trends page, started when the first one needs it
        for date in dates:
            if papers is not None and not args.allow_empty and not catchup.has_news(
                    papers, windows[date], topic.slug, args.posts_dir, date):
                print(f"paperpress: no new papers for {topic.slug} in the mailing of {date}; no post written")
                record_mailing(args.posts_dir, topic.slug, date)
                continue
            try:
                if km is None:
                    km = stack.enter_context(publish.open_kernel())
                code = run_post(argparse.Namespace(**{**vars(each), "date": date}), km)
            except PaperpressError as exc:
                print(f"paperpress: error: {topic.slug} {date}: {exc}", file=sys.stderr)
                code = EXIT_USAGE
            posted |= (Path(args.posts_dir) / f"{date}-{topic.slug}" / "index.ipynb").is_file()
            worst = max(worst, code, key=SEVERITY.index)
            if code in (EXIT_FAILED, EXIT_USAGE):
                break  # later mailings wait: the next run starts again after the last post
        if posted and not args.no_trends:
            trends = rebuild_trends(topic.slug, args.topics_file, args.posts_dir, args.trends_dir, km)
            worst = max(worst, trends, key=SEVERITY.index)
    return worst


def work_folder(args: argparse.Namespace) -> Path:
    """The run's work folder, beside posts/ (staging, locks, the fetched span)."""
    return Path(args.posts_dir).parent / ".paperpress"


def run_topic(args: argparse.Namespace) -> int:
    """One topic: the dated mailing, or its catch-up; then its earlier posts' missing summaries."""
    started = time.time()
    code = run_post(args) if args.date else run_catch_up(args)
    if os.environ.get("PAPERPRESS_PENDING_DIR"):  # one day of a backfill: the backfill completes the posts once
        return code
    return max(code, complete_posts(args, args.topic, started), key=SEVERITY.index)


def complete_posts(args: argparse.Namespace, slug: str, since: float) -> int:
    """Fill the summaries the topic's posts lack (model quota, 5xx, a refusal) within the day's model budget.

    Each such post runs its template again on its own sidecar (digest.complete_digest): the same papers in
    the same places, only the missing summaries asked for (the cache answers those it has). Posts written by
    this command (since `since`) were just tried; offline posts never lack one. Exit 3 while some are missing.
    """
    from .archive import COMPLETE, SIDECAR, count_missing

    if args.offline:
        return EXIT_OK
    partial = [(p.parent, n) for p in sorted(Path(args.posts_dir).glob(f"????-??-??-{slug}/{SIDECAR}"))
               if p.stat().st_mtime < since and (n := count_missing(p))]
    if not partial:
        return EXIT_OK
    filled = left = 0
    with publish.open_kernel() as km:
        for final, missing in partial:
            each = argparse.Namespace(**{**vars(args), "date": final.name[:10], "topic": slug})
            try:
                with publish.staging_folder(work_folder(args), final.name) as staging:
                    if (final / "figures").is_dir():  # the post's figures stay: its extras are the sidecar's
                        shutil.copytree(final / "figures", staging / "figures")
                    shutil.copyfile(final / SIDECAR, staging / COMPLETE)
                    publish.execute_template(args.template, staging, template_parameters(each, staging), km)
                    still = count_missing(staging / SIDECAR)
                    if still < missing:
                        publish.finish_post(staging, final)
            except publish.RunFailed as exc:
                return max(report_failure(exc, args.template), EXIT_PARTIAL, key=SEVERITY.index)
            filled, left = filled + missing - still, left + still
        said = f"paperpress: filled {filled} missing summaries of {len(partial)} earlier posts of {slug}"
        print(said + (f"; {left} still missing (the next run tries again)" if left else ""),
              file=sys.stderr if left else sys.stdout)
        if filled and not args.no_trends:
            rebuild_trends(slug, args.topics_file, args.posts_dir, args.trends_dir, km)
    return EXIT_PARTIAL if left else EXIT_OK


def run_all_topics(args: argparse.Namespace) -> int:
    """`paperpress run --all-topics`: each topic in turn; one topic's failure does not stop the others."""
    return for_each_topic(list(load_topics(args.topics_file)), "",
                          lambda slug: run_topic(argparse.Namespace(**{**vars(args), "topic": slug})))


def for_each_topic(slugs: list[str], what: str, work) -> int:
    """work(slug) for each topic in turn, the worst exit code; a topic's error is said and does not stop the others."""
    worst = EXIT_OK
    for slug in slugs:
        try:
            code = work(slug)
        except PaperpressError as exc:
            print(f"paperpress: error: {what}{slug}: {exc}", file=sys.stderr)
            code = EXIT_USAGE
        worst = max(worst, code, key=SEVERITY.index)
    return worst


def run_command(args: argparse.Namespace) -> int:
    """`paperpress run`: one topic or all of them; then their e-mail, where mail is configured."""
    code = run_all_topics(args) if args.all_topics else run_topic(args)
    return max(code, mail_after_run(args), key=SEVERITY.index)


def mail_after_run(args: argparse.Namespace) -> int:
    """After publishing: each topic of the run with a mail server and recipients gets its mail (a failure never
    touches the posts: it is reported, with its own exit code, and the next run sends what is missing)."""
    from .config import load_mail_settings

    try:
        mail_settings = load_mail_settings()
    except PaperpressError as exc:  # the posts are written: a mail setting's error is mail's, not the run's
        print(f"paperpress: error: mail: {exc}", file=sys.stderr)
        return EXIT_MAIL
    slugs = list(load_topics(args.topics_file)) if args.all_topics else [args.topic]
    wanted = [slug for slug in slugs if mail_settings.is_configured(slug)]
    if not wanted:
        return EXIT_OK
    return mail_topics(wanted, args, mail_settings)


def mail_topics(slugs: list[str], args: argparse.Namespace, mail_settings) -> int:
    """Mail each topic in turn; one topic's failure does not stop the others."""
    from . import mailout

    topics, settings = load_topics(args.topics_file), load_settings()
    return for_each_topic(slugs, "mail for ", lambda slug: mailout.mail_topic(
        find_topic(topics, slug, args.topics_file), settings, mail_settings, args.posts_dir,
        getattr(args, "mail_date", "") or "", getattr(args, "dry_run", False), getattr(args, "out", ".paperpress/mail")))


def mail_command(args: argparse.Namespace) -> int:
    """`paperpress mail`: a topic's (or every topic's) e-mail digest."""
    from .config import load_mail_settings

    if args.date:
        parse_date(args.date)
    mail_settings = load_mail_settings()
    if args.all_topics:
        slugs = [slug for slug in load_topics(args.topics_file) if mail_settings.recipients(slug)]
        if not slugs:
            raise PaperpressError("no recipients: set PAPERPRESS_MAIL_TO (or PAPERPRESS_MAIL_TO_<SLUG>)")
    else:
        slugs = [find_topic(load_topics(args.topics_file), args.topic, args.topics_file).slug]
    return mail_topics(slugs, argparse.Namespace(**{**vars(args), "mail_date": args.date}), mail_settings)


def backfill_command(args: argparse.Namespace) -> int:
    """`paperpress backfill`: every day of a range, in parallel, resumable."""
    from . import backfill

    started = time.time()
    code = backfill.run_backfill(args)
    return max(code, complete_posts(args, args.topic, started), key=SEVERITY.index)


def rebuild_command(args: argparse.Namespace) -> int:
    """`paperpress rebuild`: published posts drawn again from their sidecars."""
    from . import rebuild

    if args.date:
        parse_date(args.date)
    return rebuild.rebuild_posts(args.topic, args.topics_file, args.posts_dir, args.template, args.trends_dir,
                                 args.date, args.no_trends)


def demo_command(args: argparse.Namespace) -> int:
    """`paperpress demo`: the embedded archive as a site, timed."""
    from . import demo

    return demo.run_demo(args.jobs, rebuild=args.rebuild)


def doctor_command(args: argparse.Namespace) -> int:
    """`paperpress doctor`: what is there, what is missing, what to do."""
    from . import doctor

    return doctor.run_doctor(args)


def pages_command(args: argparse.Namespace) -> int:
    """`paperpress pages`: the topic pages and the today page, from the posts' sidecars."""
    from . import topicpages

    written = topicpages.write_pages(".", args.topics_file, args.posts_dir)
    print(f"paperpress: wrote {len(written) - 1} topic pages and {written[-1]}")
    return EXIT_OK


def render_site(args: argparse.Namespace) -> int:
    """`paperpress render`: the generated pages, then quarto render, or the pandoc preview where quarto is missing."""
    from . import site, topicpages

    topicpages.write_pages(args.root)
    index = site.render_site(Path(args.root))  # logs that it is a preview when Quarto is missing
    print(f"paperpress: site at {index}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `paperpress` command."""
    args = build_parser().parse_args(argv)
    try:
        commands = {"run": run_command, "backfill": backfill_command, "trends": trends_command,
                    "render": render_site, "pages": pages_command, "mail": mail_command, "demo": demo_command,
                    "rebuild": rebuild_command, "doctor": doctor_command}
        return commands[args.command](args)
    except PaperpressError as exc:
        print(f"paperpress: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("paperpress: interrupted; nothing published", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
