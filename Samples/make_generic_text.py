#!/usr/bin/env python3
"""Writes the demo's generic text: WordNet 3.0 adjective glosses, one per line, unlabeled.

The knowledge-aware mask scores (`scalpel mask --score spu-mas-ratio | spu-mas-exclude`,
Manual/mask.md) measure how much the model being updated relies on each weight for text in
general, not for the task: MAS importance over generic inputs. This file is those inputs.

Why adjective glosses: they are ordinary English definitions, like the model's pretraining
text, and they are neither the tasks' data (verb glosses) nor the control set's (noun glosses
and lemmas, Samples/make_wordnet_tasks.py). The control set measures what the model keeps;
its data must never enter selection or training, so no noun data is read here except to drop
the few adjective glosses whose text is also a noun gloss (4 in WordNet 3.0), which keeps every
noun definition out of this file whichever nouns the control split happens to hold.

Each gloss is the definition without its example sentences (as the tasks take them), each
distinct text once, shuffled by a seed and cut to --count lines: the same file on every
machine. Scalpel reads the first --generic-examples lines (256 by default; why is in
Manual/knowledge-aware.md), so the shuffle makes those a random sample of WordNet's
adjectives rather than its first letters.

  python3 Samples/make_generic_text.py [--wordnet /usr/share/wordnet]
      [--out .cache/tasks/wordnet/generic-adjectives.txt] [--count 2000] [--seed 11]
"""
import argparse
import os
import random

from make_wordnet_tasks import synsets


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--out", default=os.path.join(root, ".cache", "tasks", "wordnet", "generic-adjectives.txt"))
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    nouns = {definition for _, _, definition in synsets(os.path.join(args.wordnet, "data.noun"))}
    adjectives = sorted({definition for _, _, definition in synsets(os.path.join(args.wordnet, "data.adj"))} - nouns)
    # One text per line: a definition never holds a line break, but make sure of it.
    adjectives = [text for text in adjectives if "\n" not in text and "\r" not in text]
    random.Random(args.seed).shuffle(adjectives)
    lines = adjectives[:args.count]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    temporary = args.out + ".tmp"
    with open(temporary, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(text + "\n" for text in lines)
    os.replace(temporary, args.out)
    print(f"wrote {len(lines)} adjective glosses to {args.out}")


if __name__ == "__main__":
    main()
