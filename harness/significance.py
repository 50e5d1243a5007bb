"""Whether two speeds differ for real: the one statistical rule the sweep's and the
collector's tables use wherever they rank two speeds.

The test is Mann-Whitney U (scipy.stats.mannwhitneyu), two-sided, at alpha 0.05. It
assumes no distribution of the speeds (epoch speeds are skewed by the odd slow epoch)
and compares two samples of any sizes. A configuration's sample is its measured
epochs' speeds (samples/s of each epoch after the warm-up), pooled over its runs; where
both configurations were repeated (two or more successful runs each), it is the repeats'
median speeds instead, since fresh processes vary more than one process's epochs.

Too few samples: with n1 and n2 values and no ties, the smallest two-sided p the test
can give is 2 / C(n1 + n2, n1); with 3 epochs against 3 that is 0.1, so no difference
could ever be called significant. Then the answer is "too few": the table shows "≈"
and its p column "too few (3 vs 3)", never a guess: measure more epochs (4 against 4 can reach p = 0.029) or repeat.

Knows no framework and imports scipy only when a test really runs, so a reader
without scipy still loads; its comparisons then say "unavailable".
"""
import math
from collections import namedtuple

ALPHA = 0.05
TEST = "Mann-Whitney U, two-sided, alpha %g" % ALPHA
NOT_SIGNIFICANT = "\u2248"  # "≈"

# significant: True, False, or None where the test was not or could not be run;
# p: the test's p-value (None where it did not run); why: None, "too few" or "unavailable";
# n: the two samples' sizes; kind: "epochs" or "repeats".
Comparison = namedtuple("Comparison", "significant p why n kind")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def epoch_speeds(epochs, measured):
    """The samples/s of each of the last `measured` epochs in `epochs` (a record's
    samples.epochs: the warm-up epochs come first), leaving out any epoch whose figures
    are missing or unusable."""
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


def smallest_p(n1, n2):
    """The smallest two-sided p-value Mann-Whitney U can give for samples of these sizes
    (the most extreme ordering, no ties): 2 / C(n1 + n2, n1), at most 1."""
    if n1 < 1 or n2 < 1:
        return 1.0
    ways = math.factorial(n1 + n2) // (math.factorial(n1) * math.factorial(n2))
    return min(1.0, 2.0 / ways)


def samples_of(runs_a, runs_b):
    """The two samples to test, and their kind: `runs_a` and `runs_b` are each a
    configuration's successful runs as (median speed, [epoch speeds]) pairs."""
    if len(runs_a) > 1 and len(runs_b) > 1:
        return [m for m, _ in runs_a], [m for m, _ in runs_b], "repeats"
    return ([s for _, speeds in runs_a for s in speeds],
            [s for _, speeds in runs_b for s in speeds], "epochs")


def compare_runs(runs_a, runs_b, alpha=ALPHA):
    """compare() over the samples that samples_of() picks for two configurations."""
    return compare_runs_all([(runs_a, runs_b)], alpha)[0]


def compare_runs_all(pairs, alpha=ALPHA):
    """compare_runs of each (runs_a, runs_b) of `pairs`, the tests run together (compare_all)."""
    samples = [samples_of(runs_a, runs_b) for runs_a, runs_b in pairs]
    return [comparison._replace(kind=kind) for comparison, (_, _, kind)
            in zip(compare_all([(a, b) for a, b, _ in samples], alpha), samples)]


def compare(a, b, alpha=ALPHA):
    """Mann-Whitney U of the speeds `a` against `b` (a Comparison)."""
    return compare_all([(a, b)], alpha)[0]


def compare_all(pairs, alpha=ALPHA):
    """compare() of each (a, b) of `pairs`. The tests that scipy runs alike (the same two
    sample sizes, and ties or none: its choice between the exact and the asymptotic p
    depends on both) go to mannwhitneyu as the rows of one array each: a call per test
    was 0.4 ms of checking its arguments, most of the time of a few hundred tests."""
    results = [None] * len(pairs)
    testable = []
    for index, (a, b) in enumerate(pairs):
        n = (len(a), len(b))
        if smallest_p(*n) >= alpha:
            results[index] = Comparison(None, None, "too few", n, None)
        else:
            testable.append((index, n))
    if not testable:
        return results
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        for index, n in testable:
            results[index] = Comparison(None, None, "unavailable", n, None)
        return results
    alike = {}  # (n1, n2, ties): the indices of the pairs to test so
    for index, n in testable:
        distinct = len(set(pairs[index][0]) | set(pairs[index][1]))
        if distinct == 1:  # all equal: nothing to tell apart
            results[index] = Comparison(False, 1.0, None, n, None)
        else:
            alike.setdefault(n + (distinct < sum(n),), []).append(index)
    for (n1, n2, _), indices in alike.items():
        p_values = mannwhitneyu([pairs[i][0] for i in indices], [pairs[i][1] for i in indices],
                                alternative="two-sided", axis=1).pvalue
        for index, p in zip(indices, p_values.tolist()):
            results[index] = Comparison(p < alpha, p, None, (n1, n2), None)
    return results


def mark(comparison):
    """The text a table puts before a ratio: "" where the difference is significant,
    "≈ " where it is not, or where the samples are too few to show it either way (the
    p column says which), "? " where scipy is missing."""
    if comparison is None or comparison.significant:
        return ""
    if comparison.why == "unavailable":
        return "? "
    return NOT_SIGNIFICANT + " "


def p_text(comparison):
    """The p column's cell: the p-value, "too few" or "n/a" (no scipy)."""
    if comparison is None:
        return "-"
    if comparison.why == "too few":
        return "too few (%d vs %d)" % comparison.n
    if comparison.why == "unavailable":
        return "n/a"
    return "%.3f" % comparison.p


def footnote(comparisons):
    """One line for under a table: the test, the samples, and what the marks mean."""
    line = ("%s marks a difference that is not significant: %s (scipy.stats.mannwhitneyu) over "
            "each configuration's measured epochs' samples/s, or over the repeats' median speeds "
            "where both were repeated. \"too few\": with those sample sizes the test cannot reach "
            "p < %g (3 epochs against 3: p >= 0.1); measure 4 or more epochs, or repeat."
            % (NOT_SIGNIFICANT, TEST, ALPHA))
    if any(c is not None and c.why == "unavailable" for c in comparisons):
        line += (" The significance column is unavailable here: scipy is not installed "
                 "(\"?\", \"n/a\"); pip install scipy.")
    return line
