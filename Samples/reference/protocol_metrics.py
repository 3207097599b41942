"""The two evaluation protocols of a continual run, and their figures, in plain Python.

Written without torch or numpy so that the definitions can be tested on hand-made outcomes
(test_protocol_metrics.py) apart from any model; spu_reference.py classifies with them, and
Scalpel's `continual` computes the same figures.

Tasks T1..Tn are learned in order; state 0 is the base model, state k the model after task k.
An item goes to the class with the largest score among a candidate set of classes, ties to the
earliest candidate (task order, then classes.txt order).

- task protocol ("task_incremental"): an item of task i among task i's classes, in every state;
- class protocol ("class_incremental", the SPU paper's): in state k >= 1 an item of a seen task
  (i <= k) among the union of the classes of tasks 1..k, an item of an unseen task (i > k)
  among the union of tasks k+1..n; in state 0 every task is unseen (the union of all n).

A run's outcomes for one protocol are `outcomes[s][i]`, s = 0..n, i = 0..n-1: a string with
one character per test item of task i in test.jsonl order, "1" when the item was classified
correctly in state s. Every figure below is computed from those strings alone, in percent.
"""

PROTOCOLS = ("class", "task")


def section(protocol):
    """The report.json key of a protocol's figures: "class" -> "class_incremental"."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    return protocol + "_incremental"


def candidate_tasks(protocol, state, task, n):
    """The tasks (0-based, in order) whose classes an item of `task` (0-based) is classified
    among in `state` (0 = base, k = after the k-th task), for a sequence of n tasks."""
    if not 0 <= task < n or not 0 <= state <= n:
        raise ValueError(f"task {task} or state {state} outside a sequence of {n} tasks")
    if protocol == "task":
        return [task]
    section(protocol)
    # Task `task` is seen in state k when it is among tasks 0..k-1; in state 0 nothing is.
    if task < state:
        return list(range(state))
    return list(range(state, n))


def union_classes(classes):
    """classes: per task, a list of (label, prompt). The union in order: a class that several
    tasks list with the same label and the same prompt is one class, at its first position; the
    same label with another prompt is another class (tasks reuse labels such as "positive" for
    different things). Labels and prompts compare as UTF-8 bytes (as Scalpel does), so two
    spellings of one accented letter are two labels."""
    seen = set()
    out = []
    for pairs in classes:
        for label, prompt in pairs:
            key = (label.encode("utf-8"), prompt.encode("utf-8"))
            if key not in seen:
                seen.add(key)
                out.append((label, prompt))
    return out


def _pooled(strings):
    """Percent correct over the items of several tasks together (not a mean of percentages)."""
    items = sum(len(s) for s in strings)
    if items == 0:
        raise ValueError("no test items to compute an accuracy over")
    return 100.0 * sum(s.count("1") for s in strings) / items


def _check(outcomes):
    n = len(outcomes) - 1
    if n < 1:
        raise ValueError(f"outcomes need states 0..n for n >= 1 tasks; got {len(outcomes)} state(s)")
    for s, row in enumerate(outcomes):
        if len(row) != n:
            raise ValueError(f"state {s} has outcomes for {len(row)} tasks, not {n}")
        for i, string in enumerate(row):
            if len(string) != len(outcomes[0][i]):
                raise ValueError(f"task {i + 1} has {len(string)} outcomes in state {s} but {len(outcomes[0][i])} in state 0")
            if not string or set(string) - {"0", "1"}:
                raise ValueError(f"task {i + 1}, state {s}: outcomes must be a non-empty string of '0' and '1'")
    return n


def protocol_figures(outcomes):
    """The figures of one protocol from its outcomes (states 0..n, per task), unrounded:

    accuracy_matrix[k-1][i]: task i's accuracy in state k, for the seen tasks i < k;
    average_accuracy: pooled over all items of all tasks in state n;
    average_accuracy_after_each_task[k-1]: pooled over tasks 1..k in state k;
    average_accuracy_base / task_accuracy_base: pooled / per task in state 0;
    forgetting: mean over i < n of (best of A[k][i], k = i..n-1) - A[n][i]; 0 when n = 1;
    learning_accuracy: mean over i of A[i][i] (each task right after it was learned);
    unseen_accuracy_after_each_task[k]: pooled over tasks k+1..n in state k, k = 0..n-1;
    unseen_accuracy: mean of that list over k = 1..n-1 (state 0 is the base: nothing was
    learned yet, so it says nothing of what learning did to unseen tasks); None when n = 1.
    """
    n = _check(outcomes)
    accuracy = [[_pooled([outcomes[s][i]]) for i in range(n)] for s in range(n + 1)]
    matrix = [accuracy[k][:k] for k in range(1, n + 1)]
    forgetting = (sum(max(accuracy[k][i] for k in range(i + 1, n)) - accuracy[n][i] for i in range(n - 1)) / (n - 1)
                  if n > 1 else 0.0)
    unseen = [_pooled(outcomes[k][k:]) for k in range(n)]
    return {
        "accuracy_matrix": matrix,
        "average_accuracy": _pooled(outcomes[n]),
        "average_accuracy_after_each_task": [_pooled(outcomes[k][:k]) for k in range(1, n + 1)],
        "average_accuracy_base": _pooled(outcomes[0]),
        "task_accuracy_base": accuracy[0],
        "forgetting": forgetting,
        "learning_accuracy": sum(accuracy[i][i - 1] for i in range(1, n + 1)) / n,
        "unseen_accuracy_after_each_task": unseen,
        "unseen_accuracy": sum(unseen[1:]) / (n - 1) if n > 1 else None,
    }


def control_figures(outcomes):
    """The control set's figures from its outcomes, one string per state 0..n (the control is
    classified among its own classes in every state, the same in both protocols)."""
    if len(outcomes) < 2:
        raise ValueError(f"control outcomes need states 0..n for n >= 1 tasks; got {len(outcomes)} state(s)")
    after = [_pooled([s]) for s in outcomes[1:]]
    base = _pooled([outcomes[0]])
    return {
        "control_accuracy_base": base,
        "control_accuracy": after[-1],
        "control_accuracy_after_each_task": after,
        "control_drop": base - after[-1],
    }


def round2(x):
    """Two decimals the way Scalpel's report writes them, (x * 100).rounded() / 100 in Swift:
    halves away from zero on the product (Python's round() would take halves to even)."""
    if x is None:
        return None
    if isinstance(x, list):
        return [round2(v) for v in x]
    scaled = abs(x) * 100
    whole = float(int(scaled))
    if scaled - whole >= 0.5:
        whole += 1
    # `or 0.0`: a small negative figure rounds to 0.0, not -0.0
    return ((whole if x >= 0 else -whole) / 100) or 0.0

