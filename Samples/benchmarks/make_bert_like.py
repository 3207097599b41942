"""Writes a synthetic fp32 safetensors checkpoint with BERT-base-like tensor names and shapes,
scaled to a target size by stacking encoder layers. Values are random normal * 0.02, like an
initialised transformer; the file is a stand-in for a real model in the benchmarks.

  python make_bert_like.py OUT.safetensors --gigabytes 2 [--seed 0]
  python make_bert_like.py OUT.safetensors --layers 108 --hidden 16 --ffn 64 --vocab 100
      (the same tensor names and count with tiny shapes: the same header, almost no data)
"""
import argparse

import numpy as np
import safetensors


def layer_shapes(i, hidden=768, ffn=3072):
    p = f"bert.encoder.layer.{i}."
    return [
        (p + "attention.self.query.weight", (hidden, hidden)), (p + "attention.self.query.bias", (hidden,)),
        (p + "attention.self.key.weight", (hidden, hidden)), (p + "attention.self.key.bias", (hidden,)),
        (p + "attention.self.value.weight", (hidden, hidden)), (p + "attention.self.value.bias", (hidden,)),
        (p + "attention.output.dense.weight", (hidden, hidden)), (p + "attention.output.dense.bias", (hidden,)),
        (p + "attention.output.LayerNorm.weight", (hidden,)), (p + "attention.output.LayerNorm.bias", (hidden,)),
        (p + "intermediate.dense.weight", (ffn, hidden)), (p + "intermediate.dense.bias", (ffn,)),
        (p + "output.dense.weight", (hidden, ffn)), (p + "output.dense.bias", (hidden,)),
        (p + "output.LayerNorm.weight", (hidden,)), (p + "output.LayerNorm.bias", (hidden,)),
    ]


def bert_like_shapes(target_bytes, layers=None, hidden=768, ffn=3072, vocab=30522):
    """Embeddings and pooler, then encoder layers until the file reaches target_bytes
    (or exactly `layers` layers)."""
    shapes = [
        ("bert.embeddings.word_embeddings.weight", (vocab, hidden)),
        ("bert.embeddings.position_embeddings.weight", (512, hidden)),
        ("bert.embeddings.token_type_embeddings.weight", (2, hidden)),
        ("bert.embeddings.LayerNorm.weight", (hidden,)), ("bert.embeddings.LayerNorm.bias", (hidden,)),
        ("bert.pooler.dense.weight", (hidden, hidden)), ("bert.pooler.dense.bias", (hidden,)),
    ]
    total = sum(4 * np.prod(s) for _, s in shapes)
    i = 0
    while (i < layers) if layers is not None else (total < target_bytes):
        layer = layer_shapes(i, hidden, ffn)
        shapes += layer
        total += sum(4 * np.prod(s) for _, s in layer)
        i += 1
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, help="exact number of encoder layers (overrides --gigabytes)")
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--ffn", type=int, default=3072)
    parser.add_argument("--vocab", type=int, default=30522)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays, specs = {}, {}
    for name, shape in bert_like_shapes(args.gigabytes * 1e9, args.layers, args.hidden, args.ffn, args.vocab):
        array = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        arrays[name] = array
        specs[name] = safetensors.TensorSpec(dtype="float32", shape=list(shape),
                                             data_ptr=array.ctypes.data, data_len=array.nbytes)
    safetensors.serialize_file(specs, args.out, metadata={"format": "pt", "generator": "make_bert_like.py"})


if __name__ == "__main__":
    main()
