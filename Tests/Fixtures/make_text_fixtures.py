#!/usr/bin/env python3
"""Reference outputs for Scalpel's tokenizer and BERT runtime, made by Hugging Face's own code.

Run once where torch, transformers and sentence-transformers are installed (CI reads the
committed files), with the default model fetched by ./setup.sh:

    /tmp/ref/bin/pip install torch==2.15.0 transformers sentence-transformers
    /tmp/ref/bin/python Tests/Fixtures/make_text_fixtures.py Tests/Fixtures/text

Writes:
- sentences.json: 50 sentences; tokenizer_cases.json: hard inputs (accents, punctuation,
  numbers, emoji, CJK, control characters, a very long input), each with the token ids the
  Hugging Face tokenizer of all-MiniLM-L6-v2 gives (BertTokenizerFast, max length 256 as
  sentence-transformers truncates);
- minilm_embeddings.npy: sentence-transformers' embeddings of the 50 sentences (float32,
  50 x 384, mean pooling and L2 normalisation);
- tiny_bert.safetensors: a random 2-layer BERT (transformers BertModel) with, under
  "expected.*", a batch of inputs, its last hidden state, the mean-pooled normalised embedding,
  and the gradient of a scalar loss with respect to every parameter.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")

SENTENCES = [
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.", "The new movie is awesome.",
    "The cat sits outside.", "The new movie is so great!", "A man is playing guitar.",
    "The dog plays in the garden.", "A woman is watching TV.", "Do you like pizza?",
    "Shipping took three weeks, and the box arrived crushed.", "I'd recommend this phone to anyone.",
    "Photosynthesis converts light energy into chemical energy.", "The stock market fell 3.2% on Tuesday.",
    "Paris is the capital of France.", "Berlin's museums attract millions of visitors.",
    "Quantum computers use qubits instead of bits.", "She sold seashells by the seashore.",
    "The mitochondria is the powerhouse of the cell.", "He plays the cello in a string quartet.",
    "Rain is expected throughout the weekend.", "Add two cups of flour and stir gently.",
    "The committee postponed its decision until March.", "Electric cars are becoming cheaper to run.",
    "My flight was delayed by four hours.", "The referee showed him a red card.",
    "Whales communicate using complex songs.", "This recipe needs fresh basil, not dried.",
    "The bridge was closed for repairs.", "Children learn languages faster than adults.",
    "The library opens at nine o'clock.", "Mount Everest is the highest mountain on Earth.",
    "I can't believe it's already December!", "The software update fixed the battery drain.",
    "A lighthouse guided the ships home.", "The painting was sold at auction for $2 million.",
    "Bees are essential for pollinating crops.", "The museum's new exhibit features Roman coins.",
    "Café au lait is popular in Montréal.", "Naïve Bayes is a simple classifier.",
    "The train to Zürich leaves at 7:45.", "GPUs accelerate deep-learning workloads.",
    "He said: \"we'll see\" — and left.", "Tokyo (東京) is Japan's capital.",
]

HARD = [
    "Héllo, Wörld! Ça va? Ñandú über façade", "ÅNGSTRÖM crème brûlée résumé naïve coöperate",
    "3.14159 + 2,718 = 5.86; 1e-12 0x1F 100% #42 @home", "can't won't it's ain't y'all",
    "emoji 😀👍🏽🇫🇷 and ☃ snowman ✨", "中文字符和日本語のテキスト 한국어",
    "tabs\tand\nnewlines\r\nand   spaces", "control\u0000chars\u200bzero\u00adwidth",
    "punctuation!!! ... ??? --- ((brackets)) [x] {y} <z>", "URLs https://example.com/a?b=c&d=e#f",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 150, "", "   ", "UPPER lower MiXeD",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 60),
]


def tiny_bert(folder):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
                        hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # break the symmetric initialisation
    ids = torch.tensor([[2, 17, 45, 9, 3, 0, 0], [2, 5, 6, 7, 8, 9, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (out * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    embedding = torch.nn.functional.normalize(pooled, dim=-1)
    # A scalar loss: the sum of squares of the embeddings against a fixed direction.
    direction = torch.linspace(-1, 1, 32)
    loss = ((embedding @ direction) ** 2).sum()
    loss.backward()
    tensors = {name: p.detach().clone().contiguous() for name, p in model.state_dict().items()}
    tensors["expected.input_ids"] = ids.to(torch.int64)
    tensors["expected.attention_mask"] = mask.to(torch.int64)
    tensors["expected.last_hidden_state"] = out.detach().contiguous()
    tensors["expected.embedding"] = embedding.detach().contiguous()
    tensors["expected.loss_direction"] = direction
    tensors["expected.loss"] = loss.detach().reshape(1)
    for name, p in model.named_parameters():
        tensors[f"expected.grad.{name}"] = p.grad.detach().clone().contiguous()
    save_file(tensors, os.path.join(folder, "tiny_bert.safetensors"))
    with open(os.path.join(folder, "tiny_bert_config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True)


def main(folder):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    os.makedirs(folder, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    ids = lambda text: tokenizer(text, truncation=True, max_length=256)["input_ids"]
    with open(os.path.join(folder, "sentences.json"), "w") as f:
        json.dump([{"text": s, "ids": ids(s)} for s in SENTENCES], f, indent=1, ensure_ascii=False)
    with open(os.path.join(folder, "tokenizer_cases.json"), "w") as f:
        json.dump([{"text": s, "ids": ids(s)} for s in HARD], f, indent=1, ensure_ascii=False)
    model = SentenceTransformer(MODEL, device="cpu")
    embeddings = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False).astype(np.float32)
    np.save(os.path.join(folder, "minilm_embeddings.npy"), embeddings)
    tiny_bert(folder)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "text"))
