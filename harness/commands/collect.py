"""`python -m harness collect FOLDER` (or `python harness/collect.py FOLDER`): a folder of
result files as the seeds' Markdown tables, CSV, JSON or one HTML page, and a chart."""
import sys

NAME = "collect"
HELP = "a folder of result files as the seeds' tables (also: python harness/collect.py)"
DESCRIPTION = "Tabulate a folder of benchmark result files."


def add_arguments(parser):
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


def run(args, argv=None):
    from harness.collector import output  # the collector loads only now
    from harness.collector.chart import write_chart
    from harness.collector.records import CollectError
    try:
        runs, groups, failures, unreadable, emptied = output.read_folder(
            args.folder, args.kind, with_details=args.output_format == "html")
        # The chart comes first so that a missing matplotlib stops before any output.
        if args.chart:
            write_chart(groups, args.chart)
        if args.output_format == "html":
            text = output.page(args.folder, runs, groups, failures, unreadable, args.kind,
                               args.phases)
        else:
            text = output.folder_text(args.output_format, groups, failures, unreadable,
                                      args.kind, args.phases, emptied)
        sys.stdout.write(text)
    except CollectError as error:
        sys.stderr.write("collect: %s\n" % error)
        return error.exit_status
    return 0
