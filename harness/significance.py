"""Whether two configurations' speeds differ for real: the one statistical rule that every
comparison the project makes uses (collect compare, the sweep's and the collector's
tables, rerun's closing comparison).

The unit is the process. Epochs inside one process agree closely, but two processes of the
same configuration differ by 10-20% on a shared machine (placement, frequency, caches,
other work), so a test over one process's epochs calls an unchanged configuration
significantly different (issue 28: four of six identical pairs). A configuration's sample
is therefore its processes' median speeds, one value per fresh process; the epochs inside a
process feed only its stability verdict (harness.timing).

The test is Welch's t-test on the logarithms of those medians, two-sided, alpha 0.05, and
the effect is the ratio of the two sides' geometric means with its 95% Welch interval
(exp of the interval of the difference of the mean logarithms; it excludes 1 exactly
where p < 0.05). Why this test: with the three processes a side that the sweep runs by
default, rank tests cannot reach p < 0.05 at all (Mann-Whitney's smallest two-sided p is
0.1 for 3 against 3, so is a permutation test's), and a bootstrap over three processes has
only ten distinct resamples and gives intervals too narrow to trust; Welch's test reaches
significance with 2 or 3 processes a side, allows the two sides different spreads, and the
logarithm makes the effect a ratio (speed differences are relative) and the process
medians' right skew milder. bench/aa_ab.py measures its false alarms and power here
(docs/performance.md).

Too few processes: with one process on a side there is no spread between processes to
judge a difference against; the comparison is "untested: 1 process a side", never
significant and never a gate failure. scipy is imported only when a test runs (its t
distribution: Student's t quantile and tail), so a reader without scipy still loads;
its comparisons then say "unavailable".
"""
import math
from collections import namedtuple

ALPHA = 0.05
MIN_PROCESSES = 2
TEST = "Welch's t-test on the log of each process's median speed, two-sided, alpha %g" % ALPHA
NOT_SIGNIFICANT = "\u2248"  # "≈"

# significant: True, False, or None where the test was not or could not be run;
# p: the test's p-value (None where it did not run); why: None, "too few" or "unavailable";
# n: the two sides' process counts; ratio: geometric mean of b over that of a (None where
# a side has no usable speed); low, high: its 95% interval (None where untested).
Comparison = namedtuple("Comparison", "significant p why n ratio low high")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _usable(speeds):
    """The speeds that can be tested: finite and positive (a logarithm is taken)."""
    return [s for s in speeds if _number(s) and s > 0]


def epoch_speeds(epochs, measured):
    """The samples/s of each of the last `measured` epochs in `epochs` (a record's
    samples.epochs: the warm-up epochs come first), leaving out any epoch whose figures
    are missing or unusable. They judge a run's stability and draw its spread; they are
    not a significance test's sample."""
    if not isinstance(epochs, list) or not _number(measured) or measured < 1:
        return []
    speeds = []
    for epoch in epochs[-int(measured):]:
        if not isinstance(epoch, dict):
            continue
        samples, seconds = epoch.get("samples"), epoch.get("seconds")
        if _number(samples) and _number(seconds) and samples >= 0 and seconds > 0:
            speeds.append(samples / float(seconds))
    return speeds


def _moments(speeds):
    """(count, mean, sample variance or None for one) of the logarithms of `speeds`."""
    logs = [math.log(s) for s in speeds]
    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return 1, mean, None
    return len(logs), mean, sum((x - mean) ** 2 for x in logs) / (len(logs) - 1)


def compare(a, b, alpha=ALPHA):
    """The Comparison of the process speeds `b` against `a` (the ratio is b over a)."""
    return compare_all([(a, b)], alpha)[0]


def compare_all(pairs, alpha=ALPHA):
    """compare() of each (a, b) of `pairs`; scipy's t distribution is called once for all
    of them (a call per test was most of the time of a few hundred tests)."""
    results, tested = [None] * len(pairs), []
    for index, (a, b) in enumerate(pairs):
        a, b = _usable(a), _usable(b)
        n = (len(a), len(b))
        ratio = math.exp(_moments(b)[1] - _moments(a)[1]) if a and b else None
        if min(n) < MIN_PROCESSES:
            results[index] = Comparison(None, None, "too few", n, ratio, None, None)
            continue
        (n1, mean1, var1), (n2, mean2, var2) = _moments(a), _moments(b)
        error = math.sqrt(var1 / n1 + var2 / n2)
        if error == 0:  # no spread on either side: the logs differ or they do not
            results[index] = Comparison(mean1 != mean2, 0.0 if mean1 != mean2 else 1.0, None,
                                        n, ratio, ratio, ratio)
            continue
        # Welch-Satterthwaite degrees of freedom
        df = (var1 / n1 + var2 / n2) ** 2 / (
            (var1 / n1) ** 2 / (n1 - 1) + (var2 / n2) ** 2 / (n2 - 1))
        tested.append((index, n, ratio, (mean2 - mean1) / error, df, error))
    if not tested:
        return results
    try:
        from scipy.stats import t as student
    except ImportError:
        for index, n, ratio, _, _, _ in tested:
            results[index] = Comparison(None, None, "unavailable", n, ratio, None, None)
        return results
    dfs = [df for _, _, _, _, df, _ in tested]
    tails = student.sf([abs(statistic) for _, _, _, statistic, _, _ in tested], dfs).tolist()
    quantiles = student.ppf(1 - alpha / 2.0, dfs).tolist()
    for (index, n, ratio, _, _, error), tail, quantile in zip(tested, tails, quantiles):
        p = min(1.0, 2 * tail)
        results[index] = Comparison(p < alpha, p, None, n, ratio,
                                    ratio * math.exp(-quantile * error),
                                    ratio * math.exp(quantile * error))
    return results


def untested_text(comparison):
    """Why a comparison was not tested, as its mark says it: "untested: 1 process a side",
    "untested: 1 vs 3 processes", or "untested: no scipy"."""
    if comparison.why == "unavailable":
        return "untested: no scipy"
    low, high = sorted(comparison.n)
    if low == high:
        return "untested: %d process%s a side" % (low, "" if low == 1 else "es")
    return "untested: %d vs %d processes" % comparison.n


def mark(comparison):
    """The text a table puts before a ratio: "" where the difference is significant,
    "≈ " where it is not or was not tested (the p column says which), "? " where scipy
    is missing."""
    if comparison is None or comparison.significant:
        return ""
    if comparison.why == "unavailable":
        return "? "
    return NOT_SIGNIFICANT + " "


def p_text(comparison):
    """The p column's cell: the p-value with the ratio's interval ("0.012 [0.71, 0.93]"),
    or why there is none ("untested: 1 process a side", "n/a" without scipy)."""
    if comparison is None:
        return "-"
    if comparison.why == "unavailable":
        return "n/a"
    if comparison.why:
        return untested_text(comparison)
    return "%s [%.2f, %.2f]" % ("%.3f" % comparison.p if comparison.p >= 0.001 else "<0.001",
                                comparison.low, comparison.high)


def footnote(comparisons):
    """One line for under a table: the test, its unit, and what the marks mean."""
    line = ("%s marks a difference that is not significant: %s, over each configuration's "
            "processes (each fresh process's median speed is one value; the epochs inside a "
            "process judge only its stability). p is followed by the 95%% interval of the "
            "speed ratio. 'untested: 1 process a side': one process has no spread between "
            "processes to judge against; run several (sweep --repeat, --repeat)."
            % (NOT_SIGNIFICANT, TEST))
    if any(c is not None and c.why == "unavailable" for c in comparisons):
        line += (" The significance column is unavailable here: scipy is not installed "
                 "(\"?\", \"n/a\"); pip install scipy.")
    return line
