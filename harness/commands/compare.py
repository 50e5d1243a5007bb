"""`python -m harness compare BASELINE NEW` (or `python harness/collect.py compare ...`): two
result sets configuration by configuration (harness.collector.compare)."""
import sys

from harness.collector.match import DEFAULT_FACTOR, MATCH_FIELDS

NAME = "compare"
HELP = "two result sets side by side (also: python harness/collect.py compare)"
DESCRIPTION = ("Compare two result sets configuration by configuration: speed ratio, "
               "significance test, and a mark; exit status 1 where a configuration is "
               "significantly slower by more than the factor.")


def add_arguments(parser):
    parser.add_argument("baseline", help="results folder, or a Markdown document with the "
                                         "seeds' result tables (published figures)")
    parser.add_argument("new", help="results folder")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help="smallest ratio worth reporting (default %(default)s)")
    parser.add_argument("--ignore", type=lambda text: [f for f in text.split(",") if f],
                        default=[], metavar="FIELD,...",
                        help="fields not matched, so that a configuration stands for one that "
                             "differs in them (say dataset: a synthetic run against a published "
                             "CIFAR-10 row); they are shown side by side. Any of: %s"
                             % ", ".join(MATCH_FIELDS))
    parser.add_argument("--format", dest="output_format", choices=("md", "json", "html"),
                        default="md")


def run(args, argv=None):
    from harness.collector import compare_text, output  # the collector loads only now
    from harness.collector.records import CollectError
    try:
        if args.output_format == "html":
            text, status, skipped = output.compare_html(args.baseline, args.new, args.factor,
                                                        args.ignore)
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
