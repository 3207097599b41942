#!/usr/bin/env python3
"""Builds the demo's task sequences from WordNet 3.0 (Debian package wordnet-base).

A verb synset's gloss (its definition, without the example sentences) is the text, its
lexicographer file (verb.motion, verb.communication, ...) the class. Two sequences of the same
fifteen categories:

- OUT/verbs-1 .. verbs-3: three tasks of five categories (the main job's short sequence);
- OUT/five/verbs-1 .. verbs-5: five tasks of three (the results harness: a longer sequence,
  so that forgetting and control drift can accumulate, as in the method's 10-task sequences).

The control set, OUT/control-nouns: retrieving a noun's lemma from its gloss among 2000
held-out noun synsets (one class per synset, its first lemma the prompt, its gloss the one
test example). With 2000 items one item is 0.05 points and a 95 % interval about ±2 points;
the first 300 are the earlier 300-item control set. Nouns only: the tasks are verbs, and the
generic text of knowledge-aware selection comes from other parts of speech.
The splits are fixed by seeds; the same files come out on every machine.

  python3 Samples/make_wordnet_tasks.py [--wordnet /usr/share/wordnet] [--out .cache/tasks/wordnet]
      [--train 60] [--test 40] [--seed 7] [--control 2000]
"""
import argparse
import json
import os
import random

VERB_FILES = {29: "body", 30: "change", 31: "cognition", 32: "communication", 33: "competition", 34: "consumption",
              35: "contact", 36: "creation", 37: "emotion", 38: "motion", 39: "perception", 40: "possession",
              41: "social", 42: "stative", 43: "weather"}
TASKS = [
    ("verbs-1", ["motion", "communication", "contact", "change", "cognition"]),
    ("verbs-2", ["possession", "social", "creation", "perception", "consumption"]),
    ("verbs-3", ["body", "emotion", "competition", "stative", "weather"]),
]
# The same categories in the same order, three to a task.
CATEGORIES = [category for _, categories in TASKS for category in categories]
FIVE_TASKS = [(f"verbs-{k + 1}", CATEGORIES[3 * k:3 * k + 3]) for k in range(5)]
PROMPTS = {
    "motion": "a verb of motion: moving or travelling", "communication": "a verb of communication: telling, asking, speaking",
    "contact": "a verb of contact: touching, hitting, attaching", "change": "a verb of change: becoming different",
    "cognition": "a verb of thinking, judging or knowing", "possession": "a verb of having, buying, giving or taking",
    "social": "a verb of social and political life", "creation": "a verb of making or creating something",
    "perception": "a verb of seeing, hearing or sensing", "consumption": "a verb of eating, drinking or using up",
    "body": "a verb about the body and its functions", "emotion": "a verb of feeling and emotion",
    "competition": "a verb of fighting, sport or competing", "stative": "a verb of being or having a state",
    "weather": "a verb about the weather",
}


def synsets(path):
    """(lexicographer file number, first lemma, gloss definition) for each synset line."""
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            lex_file, words = int(fields[1]), int(fields[3], 16)
            lemma = fields[4].replace("_", " ")
            definition = gloss.split('; "')[0].strip().rstrip(";").strip()
            if definition and words:
                yield lex_file, lemma, definition


def write_task(folder, classes, train, test):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "classes.txt"), "w") as f:
        f.writelines(f"{label}\t{prompt}\n" for label, prompt in classes)
    for name, rows in (("train.jsonl", train), ("test.jsonl", test)):
        with open(os.path.join(folder, name), "w") as f:
            f.writelines(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "tasks", "wordnet"))
    parser.add_argument("--train", type=int, default=60)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--control", type=int, default=2000, help="held-out noun synsets in the control set")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    by_category = {}
    for lex_file, _, definition in synsets(os.path.join(args.wordnet, "data.verb")):
        if lex_file in VERB_FILES:
            by_category.setdefault(VERB_FILES[lex_file], []).append(definition)

    def write_sequence(folder, tasks, rng):
        for name, categories in tasks:
            train, test = [], []
            for category in categories:
                glosses = sorted(set(by_category[category]))
                rng.shuffle(glosses)
                take = min(len(glosses), args.train + args.test)
                split = take * args.train // (args.train + args.test)
                train += [(g, category) for g in glosses[:split]]
                test += [(g, category) for g in glosses[split:take]]
            rng.shuffle(train)
            write_task(os.path.join(folder, name), [(c, PROMPTS[c]) for c in categories], train, test)

    write_sequence(args.out, TASKS, rng)
    nouns = sorted({(lemma, definition) for _, lemma, definition in synsets(os.path.join(args.wordnet, "data.noun"))})
    rng.shuffle(nouns)
    held, seen = [], set()
    for lemma, definition in nouns:
        if lemma.lower() not in seen and len(held) < args.control:
            seen.add(lemma.lower())
            held.append((lemma, definition))
    # Labels n000 .. n299 as before, then n0300 and on: the first 300 classes keep their names.
    label = lambda i: f"n{i:03d}" if i < 300 else f"n{i:04d}"
    classes = [(label(i), lemma) for i, (lemma, _) in enumerate(held)]
    write_task(os.path.join(args.out, "control-nouns"), classes, [], [(definition, label(i)) for i, (_, definition) in enumerate(held)])
    # The five-task sequence draws its splits from a generator of its own, so the short
    # sequence and the control set stay what they were.
    write_sequence(os.path.join(args.out, "five"), FIVE_TASKS, random.Random(args.seed + 1))
    print(f"wrote {len(TASKS)} verb tasks, the {len(FIVE_TASKS)}-task sequence (five/) and the control set "
          f"of {len(held)} nouns to {args.out}")


if __name__ == "__main__":
    main()
