"""The collector's command line (harness/collect.py runs it; see there for its usage)."""
import argparse
import os
import sys

from harness.collector import compare, compare_text, export, tables
from harness.collector.chart import write_chart
from harness.collector.groups import collapse, failures_of, identities_of
from harness.collector.labels import kind_of
from harness.collector.records import CollectError
from harness.collector.runs import load


def render(output_format, groups, failures, unreadable, kind, phases=False, emptied=()):
    """The output text in `output_format` (md, csv or json); `phases` adds the Markdown's
    phase tables (CSV and JSON always hold the phases). JSON also lists the files skipped
    (`unreadable`) and the fields emptied in records that were kept (`emptied`)."""
    if output_format == "md":
        return tables.markdown(tables.report(groups, failures, kind, phases))
    rows = export.export_rows(groups, failures)
    if output_format == "csv":
        return export.csv_text(rows)
    return export.json_text(rows, unreadable, emptied)


def _parser():
    parser = argparse.ArgumentParser(
        prog="collect", description="Tabulate a folder of benchmark result files.")
    parser.add_argument("folder", help="folder of result files (searched recursively)")
    parser.add_argument("--kind", choices=("cnn", "rnn", "vgg16", "all"), default="all",
                        help="image models (cnn, MLP included), the LSTM (rnn), both (all), "
                             "or only the VGG16 seed's table (vgg16)")
    parser.add_argument("--format", dest="output_format", choices=("md", "csv", "json", "html"),
                        default="md", help="Markdown tables, the numbers behind them, or one "
                                           "self-contained HTML page with charts and every "
                                           "run's details")
    parser.add_argument("--chart", metavar="PATH.png", help="also draw the speeds into this PNG")
    parser.add_argument("--phases", action="store_true",
                        help="add to the Markdown the seconds each configuration spent per "
                             "phase (import, data, build, compile, first epoch, warm-up, "
                             "steady, evaluate, total), profiled runs included")
    return parser


def _of_kind(identity, kind):
    if kind == "vgg16":
        return identity.get("model") == "vgg16"
    return kind in ("all", kind_of(identity))


def _compare_parser():
    parser = argparse.ArgumentParser(
        prog="collect compare", description="Compare two result sets configuration by "
        "configuration: speed ratio, significance test, and a mark; exit status 1 where a "
        "configuration is significantly slower by more than the factor.")
    parser.add_argument("baseline", help="results folder, or a Markdown document with the "
                                         "seeds' result tables (published figures)")
    parser.add_argument("new", help="results folder")
    parser.add_argument("--factor", type=float, default=compare.DEFAULT_FACTOR,
                        help="smallest ratio worth reporting (default %(default)s)")
    parser.add_argument("--ignore", type=lambda text: [f for f in text.split(",") if f],
                        default=[], metavar="FIELD,...",
                        help="fields not matched, so that a configuration stands for one that "
                             "differs in them (say dataset: a synthetic run against a published "
                             "CIFAR-10 row); they are shown side by side. Any of: %s"
                             % ", ".join(compare.MATCH_FIELDS))
    parser.add_argument("--format", dest="output_format", choices=("md", "json", "html"),
                        default="md")
    return parser


def compare_main(argv):
    args = _compare_parser().parse_args(argv)
    try:
        if args.output_format == "html":
            text, status, skipped = _compare_html(args.baseline, args.new, args.factor, args.ignore)
        else:
            text, status, skipped = compare_text.of_paths(args.baseline, args.new, args.factor,
                                                    args.output_format, args.ignore)
    except CollectError as error:
        sys.stderr.write("collect compare: %s\n" % error)
        return 2
    for path, reason in skipped:
        sys.stderr.write("collect compare: skipped %s: %s\n" % (path, reason))
    sys.stdout.write(text)
    return status


def _compare_html(baseline, new, factor, ignore):
    """compare.compare's (text, status, skipped), the text an HTML page."""
    from harness.collector import html
    compared, skipped = compare.compare_paths(baseline, new, factor, ignore)
    return (html.compare_page(compared, baseline, new, factor, len(skipped)),
            compare.exit_status(compared), skipped)


def _read(folder, kind, with_details=False):
    """The runs of `kind` under `folder` (the files skipped and the fields emptied named on
    stderr), their groups and failures, the files skipped and the fields emptied."""
    runs, unreadable, emptied = load(folder, with_details=with_details)
    for path, reason in unreadable:
        sys.stderr.write("collect: skipped %s: %s\n" % (path, reason))
    for path, note in emptied:
        sys.stderr.write("collect: kept %s, but %s\n" % (path, note))
    identities = identities_of(runs)
    runs = [run for run in runs if _of_kind(identities[run.key], kind)]
    groups = collapse([run for run in runs if run.status == "ok"], identities)
    failures = failures_of([run for run in runs if run.status != "ok"], identities)
    return runs, groups, failures, unreadable, emptied


def _page(folder, runs, groups, failures, unreadable, kind, phases=False):
    """The HTML report of what _read read in `folder`."""
    from harness.collector import html
    return html.collect_page("Keras Benchmark Results: %s" % folder, runs, groups, failures,
                             kind, phases, len(unreadable))


def report_note(folder, name="report.html"):
    """Write the HTML report of `folder` into it as `name` (the sweep's last step); what to
    tell the user: where it is, or why there is none."""
    path = os.path.join(folder, name)
    try:
        runs, groups, failures, unreadable, _ = _read(folder, "all", with_details=True)
        text = _page(folder, runs, groups, failures, unreadable, "all")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except (CollectError, OSError) as error:
        return "no report: %s" % error
    return "report: %s" % path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        runs, groups, failures, unreadable, emptied = _read(
            args.folder, args.kind, with_details=args.output_format == "html")
        # The chart comes first so that a missing matplotlib stops before any output.
        if args.chart:
            write_chart(groups, args.chart)
        if args.output_format == "html":
            text = _page(args.folder, runs, groups, failures, unreadable, args.kind, args.phases)
        else:
            text = render(args.output_format, groups, failures, unreadable, args.kind,
                          args.phases, emptied)
        sys.stdout.write(text)
    except CollectError as error:
        sys.stderr.write("collect: %s\n" % error)
        return error.exit_status
    return 0
