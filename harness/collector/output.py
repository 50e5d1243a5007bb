"""What the collect and compare commands print (harness.commands.collect, .compare), and
the HTML report a sweep leaves in its folder."""
import os
import sys

from harness.collector import compare, export, tables
from harness.collector.groups import collapse, failures_of, identities_of
from harness.collector.labels import kind_of
from harness.collector.records import CollectError
from harness.collector.runs import load


def folder_text(output_format, groups, failures, unreadable, kind, phases=False, emptied=()):
    """The output text in `output_format` (md, csv or json); `phases` adds the Markdown's
    phase tables (CSV and JSON always hold the phases). JSON also lists the files skipped
    (`unreadable`) and the fields emptied in records that were kept (`emptied`)."""
    if output_format == "md":
        return tables.markdown(tables.report(groups, failures, kind, phases))
    rows = export.export_rows(groups, failures)
    if output_format == "csv":
        return export.csv_text(rows)
    return export.json_text(rows, unreadable, emptied)


def of_kind(identity, kind):
    if kind == "vgg16":
        return identity.get("model") == "vgg16"
    return kind in ("all", kind_of(identity))


def read_folder(folder, kind, with_details=False):
    """The runs of `kind` under `folder` (the files skipped and the fields emptied named on
    stderr), their groups and failures, the files skipped and the fields emptied."""
    runs, unreadable, emptied = load(folder, with_details=with_details)
    for path, reason in unreadable:
        sys.stderr.write("collect: skipped %s: %s\n" % (path, reason))
    for path, note in emptied:
        sys.stderr.write("collect: kept %s, but %s\n" % (path, note))
    identities = identities_of(runs)
    runs = [run for run in runs if of_kind(identities[run.key], kind)]
    groups = collapse([run for run in runs if run.status == "ok"], identities)
    failures = failures_of([run for run in runs if run.status != "ok"], identities)
    return runs, groups, failures, unreadable, emptied


def page(folder, runs, groups, failures, unreadable, kind, phases=False):
    """The HTML report of what read_folder read in `folder`."""
    from harness.collector import html
    return html.collect_page("Keras Benchmark Results: %s" % folder, runs, groups, failures,
                             kind, phases, len(unreadable))


def report_note(folder, name="report.html"):
    """Write the HTML report of `folder` into it as `name` (the sweep's last step); what to
    tell the user: where it is, or why there is none."""
    path = os.path.join(folder, name)
    try:
        runs, groups, failures, unreadable, _ = read_folder(folder, "all", with_details=True)
        text = page(folder, runs, groups, failures, unreadable, "all")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except (CollectError, OSError) as error:
        return "no report: %s" % error
    return "report: %s" % path


def compare_html(baseline, new, factor, ignore):
    """compare_text.of_paths's (text, status, skipped), the text an HTML page."""
    from harness.collector import html
    compared, skipped = compare.compare_paths(baseline, new, factor, ignore)
    return (html.compare_page(compared, baseline, new, factor, len(skipped)),
            compare.exit_status(compared), skipped)
