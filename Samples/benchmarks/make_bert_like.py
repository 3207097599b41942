"""Writes a synthetic fp32 safetensors checkpoint with BERT-base-like tensor names and shapes,
scaled to a target size by stacking encoder layers. Values are random normal * 0.02, like an
initialised transformer; the file is a stand-in for a real model in the benchmarks.

  python make_bert_like.py OUT.safetensors --gigabytes 2 [--seed 0]
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


def bert_like_shapes(target_bytes):
    shapes = [
        ("bert.embeddings.word_embeddings.weight", (30522, 768)),
        ("bert.embeddings.position_embeddings.weight", (512, 768)),
        ("bert.embeddings.token_type_embeddings.weight", (2, 768)),
        ("bert.embeddings.LayerNorm.weight", (768,)), ("bert.embeddings.LayerNorm.bias", (768,)),
        ("bert.pooler.dense.weight", (768, 768)), ("bert.pooler.dense.bias", (768,)),
    ]
    total = sum(4 * np.prod(s) for _, s in shapes)
    i = 0
    while total < target_bytes:
        layer = layer_shapes(i)
        shapes += layer
        total += sum(4 * np.prod(s) for _, s in layer)
        i += 1
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays, specs = {}, {}
    for name, shape in bert_like_shapes(args.gigabytes * 1e9):
        array = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        arrays[name] = array
        specs[name] = safetensors.TensorSpec(dtype="float32", shape=list(shape),
                                             data_ptr=array.ctypes.data, data_len=array.nbytes)
    safetensors.serialize_file(specs, args.out, metadata={"format": "pt", "generator": "make_bert_like.py"})


if __name__ == "__main__":
    main()
