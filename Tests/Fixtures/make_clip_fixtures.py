#!/usr/bin/env python3
"""Reference outputs for Scalpel's CLIP tokenizer, made by open_clip's own SimpleTokenizer.

Run once where open_clip_torch (3.3.0) and ftfy are installed; CI reads the committed file:

    /tmp/ref/bin/pip install open_clip_torch==3.3.0 ftfy
    /tmp/ref/bin/python Tests/Fixtures/make_clip_fixtures.py Tests/Fixtures/clip

Writes tokenizer_cases.json: texts (the BERT fixtures' 50 sentences, hard inputs, class
prompts, a text longer than the context) and the ids open_clip gives them: start token, BPE
ids, end token, truncated to 77 with the end token last (padding left off).
"""
import json
import os
import sys

from open_clip.tokenizer import SimpleTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

HARD = [
    "a photo of a cat.", "A PHOTO OF A DOG!", "a photo of the number 42", "an origami crane, 3.5 cm",
    "Héllo, Wörld! Ça va? Ñandú über façade", "ÅNGSTRÖM crème brûlée résumé naïve coöperate",
    "3.14159 + 2,718 = 5.86; 1e-12 0x1F 100% #42 @home", "can't won't it's ain't y'all I'M WE'LL THEY'D",
    "emoji 😀👍🏽🇫🇷 and ☃ snowman ✨", "中文字符和日本語のテキスト 한국어",
    "tabs\tand\nnewlines\r\nand   spaces", "control\u0000chars\u200bzero\u00adwidth",
    "punctuation!!! ... ??? --- ((brackets)) [x] {y} <z>", "URLs https://example.com/a?b=c&d=e#f",
    "curly \u2018quotes\u2019 and \u201cdouble\u201d", "ligatures \ufb01ne \ufb02ow", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３",
    "html &amp; entities &lt;b&gt; &#39;x&#39; &#x263A;", "a\u0085b c\u2028d", "cafe\u0301 (combining accent)",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "", "   ", "<start_of_text> inside <end_of_text>",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 12),
]


def main(folder):
    tokenizer = SimpleTokenizer()
    with open(os.path.join(HERE, "text", "sentences.json")) as f:
        sentences = [row["text"] for row in json.load(f)]
    cases = []
    for text in sentences + HARD:
        row = tokenizer([text])[0].tolist()
        length = min(77, len(tokenizer.encode(text)) + 2)
        cases.append({"text": text, "ids": row[:length]})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "clip"))
