"""`python tests/helpers/fake_source_train.py <train.py overrides>`: train.py with one more MNIST source,
`fake`, that copies the tiny synthetic IDX files of $FAKE_MNIST_FILES (slowly, and noting each
call in $FAKE_MNIST_CALLS), whose MD5s stand in for the official ones. For the test that two
trainings started at once on an empty data dir both succeed."""

import hashlib
import os
import runpy
import sys
import time
from pathlib import Path

import tinynets.data.prepare as P

files = Path(os.environ["FAKE_MNIST_FILES"])
for name in P.OFFICIAL:  # the same dict object prepare_mnist() checks against
    data = (files / name).read_bytes()
    P.OFFICIAL[name] = (hashlib.md5(data).hexdigest(), len(data))


def fake(raw: Path, names) -> None:
    with open(os.environ["FAKE_MNIST_CALLS"], "a") as f:
        f.write(f"{os.getpid()}\n")
    for name in names:
        time.sleep(0.5)  # a slow download: the other training waits on the lock meanwhile
        P.atomic_write(raw / name, (files / name).read_bytes())


P.SOURCES["fake"] = fake
root = Path(__file__).resolve().parents[2]  # the checkout
sys.argv = [str(root / "train.py"), *sys.argv[1:]]
runpy.run_path(str(root / "train.py"), run_name="__main__")
