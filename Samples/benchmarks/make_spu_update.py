"""Makes an SPU-like fine-tuned copy of a safetensors checkpoint: in every first-MLP weight
(`intermediate.dense.weight`, BERT naming; `mlp.c_fc.weight`, CLIP naming) a random 10 % of
the elements take a small step (N(0, step²), step 1e-4 by default, the size of a few Adam
updates at a fine-tuning learning rate); every other tensor is left bit-identical.

  python make_spu_update.py BASE.safetensors TUNED.safetensors [--rate 0.1] [--step 1e-4] [--seed 0]
"""
import argparse

import numpy as np
import safetensors
from safetensors import safe_open

FIRST_MLP = ("intermediate.dense.weight", "mlp.c_fc.weight")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("tuned")
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--step", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays, specs = {}, {}
    with safe_open(args.base, framework="numpy") as f:
        metadata = f.metadata()
        for name in f.keys():
            array = f.get_tensor(name)
            if name.endswith(FIRST_MLP):
                array = array.copy()
                flat = array.reshape(-1)
                chosen = rng.choice(flat.size, int(flat.size * args.rate), replace=False)
                flat[chosen] += (rng.standard_normal(chosen.size) * args.step).astype(flat.dtype)
            arrays[name] = np.ascontiguousarray(array)
            specs[name] = safetensors.TensorSpec(dtype=str(array.dtype), shape=list(array.shape),
                                                 data_ptr=arrays[name].ctypes.data, data_len=array.nbytes)
    safetensors.serialize_file(specs, args.tuned, metadata=metadata)


if __name__ == "__main__":
    main()
