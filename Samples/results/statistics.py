"""Intervals for the results page, from the per-item outcomes in continual runs' report.json.

Every run over the same test items (the same task sequence and control set) lists, per state
and per task, one character per item ('1' right, '0' wrong). Comparisons resample the items
(percentile bootstrap, items drawn with replacement within each task and within the control
set) and apply the same draws to every run and every seed, so differences are paired: what
varies between two runs on the same items is what the interval measures. Seeds enter through
the mean over seeds on each resample; their spread is reported beside, since three seeds are
too few to resample.
"""
import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


def bits(text):
    """'0101' -> array([0, 1, 0, 1]) of float64."""
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.float64) - ord("0")


def final_tasks(report, protocol):
    """The last state's outcomes per task under `protocol` ('class' or 'task')."""
    return [bits(t) for t in report["outcomes"][protocol + "_incremental"][-1]]


def control(report, state=-1):
    """The control set's outcomes in a state (-1: the last, 0: the base)."""
    return bits(report["outcomes"]["control"][state])


def draws(sizes, resamples=RESAMPLES, seed=0):
    """For each group size, a (resamples, size) array of item indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=(resamples, n)) for n in sizes]


def interval(values, level=LEVEL):
    """The percentile interval of bootstrap values (numpy's linear quantiles)."""
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def pooled_accuracy(groups, index):
    """Percent correct over the groups' resampled items: index[g] is (resamples, n_g)."""
    correct = sum(g[i].sum(axis=1) for g, i in zip(groups, index))
    total = sum(i.shape[1] for i in index)
    return 100 * correct / total


def identity(sizes):
    """Draws that take every item once: the statistic on the items as they are."""
    return [np.arange(n)[None, :] for n in sizes]


def point(statistic, report, sizes):
    """A statistic's value on the items as they are."""
    return float(statistic(report, identity(sizes))[0])


def final_accuracy(protocol):
    """Statistic: the final average accuracy (pooled over every task's items) under `protocol`."""
    return lambda report, index: pooled_accuracy(final_tasks(report, protocol), index)


def control_accuracy(report, index):
    """Statistic: the final control accuracy."""
    return pooled_accuracy([control(report, -1)], index)


def control_drop(report, index):
    """Statistic: base minus final control accuracy, paired over the same items."""
    return pooled_accuracy([control(report, 0)], index) - pooled_accuracy([control(report, -1)], index)


def task_sizes(report):
    """Item counts of the tasks, in order."""
    return [len(t) for t in report["outcomes"]["task_incremental"][0]]


def control_size(report):
    return [len(report["outcomes"]["control"][0])]


def seeds_mean(reports, statistic, sizes, seed=0):
    """(mean over seeds of the statistic, its interval over resampled items, (min, max) over
    seeds). `statistic(report, index)` gives one value per resample for the draws `index`."""
    values = np.mean([statistic(r, draws(sizes, seed=seed)) for r in reports], axis=0)
    points = [point(statistic, r, sizes) for r in reports]
    return float(np.mean(points)), interval(values), (min(points), max(points))


def paired_difference(reports_a, reports_b, statistic, sizes, seed=0):
    """Mean over seeds of A's statistic minus B's, with its interval over the same resampled
    items (paired), and whether that interval excludes zero."""
    index = draws(sizes, seed=seed)
    a = np.mean([statistic(r, index) for r in reports_a], axis=0)
    b = np.mean([statistic(r, index) for r in reports_b], axis=0)
    difference = float(np.mean([point(statistic, r, sizes) for r in reports_a]) - np.mean([point(statistic, r, sizes) for r in reports_b]))
    low, high = interval(a - b)
    return difference, (low, high), low > 0 or high < 0
