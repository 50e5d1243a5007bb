"""The results as one self-contained HTML page: `collect.py FOLDER --format html` and
`collect.py compare BASELINE NEW --format html`.

The page holds what the Markdown holds (tables.report's blocks, compare's rows), each
table sortable by a click on a header (a few lines of inline script), and adds charts
drawn by matplotlib (chart.py) as inline SVG: the overview of chart.chart_figure, per
workload each configuration's speed with its spread and epochs, and, where the runs come
from several days, versions or commits, each workload's history with compare's
significant changes marked (history.py). Every run's command, environment and error sit
in a <details> element, one click away. Nothing is fetched: no script, style sheet or
font comes from elsewhere, so the file opens from disk with no network.

Laid out by the Jinja2 template templates/report.html; imported only when HTML is asked
for, so that Markdown, CSV and JSON need neither Jinja2 nor matplotlib.
"""
import os
import re

from harness.collector import chart, compare_text, history, tables
from harness.collector.groups import merge, unprofiled
from harness.collector.labels import backend_label, workload_label
from harness.collector.layout import Heading, Table
from harness.collector.records import CollectError, MissingPackage

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
# A chart costs matplotlib a tenth of a second or more: beyond these, the tables say the
# rest (and the overview of every workload at once, beyond WORKLOAD_CHARTS, is unreadable).
WORKLOAD_CHARTS = 24
HISTORY_CHARTS = 12


def collect_page(title, runs, groups, failures, kind, phases=False, skipped=0):
    """The report of a results folder: `runs` (loaded with their details), their `groups`
    and `failures` (cli's), the tables of `kind`; `skipped` files are only counted (cli
    names them on stderr)."""
    environment = _templates()
    blocks = tables.report(groups, failures, kind, phases)
    # A chart per workload with something to compare: two configurations or more.
    comparable = [row for row in _workloads(unprofiled(groups)) if len(row[1]) > 1]
    charted = comparable[:WORKLOAD_CHARTS]
    moved = history.histories(runs)
    return _render(
        environment, "report.html", title=title, blocks=[_block(block) for block in blocks],
        overview=chart.svg_text(chart.chart_figure, groups)
        if groups and len(_workloads(groups)) <= WORKLOAD_CHARTS else None,
        workloads=[(label, chart.svg_text(chart.workload_figure, members))
                   for label, members in charted],
        uncharted=len(comparable) - len(charted),
        histories=[(one, chart.svg_text(chart.history_figure, one.series,
                                        [(c.series, c.started_at, c.speed, _change_text(c))
                                         for c in one.changes], one.unit))
                   for one in moved[:HISTORY_CHARTS]],
        unhistoried=max(0, len(moved) - HISTORY_CHARTS),
        runs=sorted(runs, key=lambda run: (run.started_at, run.run_id)),
        labels=_run_labels(runs, groups, failures), skipped=skipped)


def compare_page(compared, baseline_name, new_name, factor, skipped=0):
    """The comparison of two result sets (compare.lines' `compared`) as a page."""
    return _render(
        _templates(), "report.html", title="Comparison: %s against %s" % (new_name, baseline_name),
        blocks=[_block(Heading(1, "Comparison")),
                _block(Table(*compare_text.table(compared)))]
        + [_block(text) for text in compare_text.notes(compared, baseline_name, new_name, factor)],
        overview=None, workloads=[], uncharted=0, histories=[], unhistoried=0, runs=[],
        labels={}, skipped=skipped)


def _workloads(groups):
    """[(workload label, its groups)] in table order."""
    rows = merge(groups, lambda g: {"workload": workload_label(g.identity)}, lambda g: g.key)
    return [(row.identity["workload"], list(row.members.values())) for row in rows]


def _change_text(change):
    line = change.line
    return "%s %.2fx (p %s)" % (line.mark, line.ratio, "%.3f" % line.comparison.p)


def _run_labels(runs, groups, failures):
    """Each run's one-line summary: its workload and backend."""
    labels = {}
    for item in list(groups) + list(failures):
        text = "%s, %s (%s)" % (workload_label(item.identity),
                                backend_label(item.identity.get("backend")),
                                item.identity.get("backend_package"))
        for run_id in getattr(item, "run_ids", None) or [item.run.run_id]:
            labels[run_id] = text
    return labels


def _block(block):
    """A tables.report block as the template takes it: ("heading", level, text),
    ("table", headers, rows of (class, HTML) per cell) or ("text", text). The cells are
    made here, not by the template: a filter call per cell was most of the time of a
    page of 10,000 configurations."""
    if isinstance(block, Heading):
        return ("heading", block.level, block.text)
    if isinstance(block, Table):
        runs = block.headers.index("Run") if "Run" in block.headers else None
        return ("table", block.headers, [[(_cell_class(cell), _run_link(cell) if at == runs
                                           else inline(cell)) for at, cell in enumerate(row)]
                                         for row in block.rows])
    return ("text", block)


def _cell_class(cell):
    """The class that colours a cell: a slowdown or failure, a speed-up, an unstable run."""
    if cell.startswith(("slower", "failed now", "error", "interrupted")):
        return "bad"
    if cell.startswith("faster"):
        return "good"
    return "warn" if cell.startswith("UNSTABLE") else ""


def _run_link(run_id):
    from markupsafe import Markup
    return Markup('<a href="#run-%s">%s</a>') % (run_id, run_id)


_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")
_CODE = re.compile(r"`([^`]*)`")


def inline(text):
    """The Markdown the tables' text uses (links, `code`, <br />) as HTML; the rest
    escaped."""
    from markupsafe import Markup, escape
    if "[" not in text and "`" not in text and "<" not in text:  # most cells: plain text
        return escape(text)
    html = str(escape(text)).replace("&lt;br /&gt;", "<br>")
    html = _LINK.sub(r'<a href="\2">\1</a>', html)
    return Markup(_CODE.sub(r"<code>\1</code>", html))


def _templates():
    """The Jinja2 environment of TEMPLATES. Asked for before a page's cells are escaped,
    which takes Jinja2's MarkupSafe: without Jinja2, MissingPackage says how to get it."""
    try:
        import jinja2
    except ImportError:
        raise MissingPackage("--format html needs Jinja2, which is not installed: "
                             "pip install jinja2")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters["inline"] = inline
    return environment


def _render(environment, name, **values):
    import jinja2
    try:
        return environment.get_template(name).render(**values)
    except jinja2.TemplateError as error:
        raise CollectError("cannot lay out the report: %s" % error)
