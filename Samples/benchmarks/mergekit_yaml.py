#!/usr/bin/env python3
"""`mergekit-yaml`, with one workaround for mergekit 0.1.5 on BERT checkpoints.

mergekit 0.1.5's BERT architecture marks `embeddings.position_ids` optional and gives it an
alias; its planner then evaluates `[name] + aliases` with `aliases` stored as a tuple, and every
BERT merge stops with "can only concatenate list (not "tuple") to list". This runner hands
the planner the aliases as a list and changes nothing else. Usage is that of mergekit-yaml.
"""
import sys

from mergekit import plan

_plan_tensor = plan.MergePlanner.plan_tensor


def _plan_tensor_with_list_aliases(self, weight, weights_in, models, cfg_reader):
    weights_in = [w.model_copy(update={"aliases": list(w.aliases)}) if w.aliases else w for w in weights_in]
    return _plan_tensor(self, weight, weights_in, models, cfg_reader)


plan.MergePlanner.plan_tensor = _plan_tensor_with_list_aliases

if __name__ == "__main__":
    from mergekit.scripts.run_yaml import main

    sys.argv[0] = "mergekit-yaml"
    main()
