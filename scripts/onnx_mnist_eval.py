#!/usr/bin/env python3
"""MNIST test accuracy of an exported model under ONNX Runtime.

Usage: onnx_mnist_eval.py MODEL.onnx [DATA_DIR]   (DATA_DIR: data/mnist)

Reads t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz),
normalises pixels as the examples' loader does ((p / 255 - 0.1307) / 0.3081),
runs the 10 000 images in
batches of 500 and prints `onnxruntime_test_accuracy=0.xxxx`, to compare
with the `test_accuracy` the training example printed.
"""
import gzip
import os
import sys


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return data[4 + 4 * ndim:], dims


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    sys.exit(f"onnx_mnist_eval: no {stem}[.gz] in {data_dir}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    import numpy as np
    import onnxruntime as ort

    data_dir = sys.argv[2] if len(sys.argv) > 2 else "data/mnist"
    raw, dims = read_idx(find(data_dir, "t10k-images-idx3-ubyte"))
    x = np.frombuffer(raw, dtype=np.uint8).reshape(dims[0], 1, dims[1], dims[2]).astype(np.float32)
    x = (x / np.float32(255.0) - np.float32(0.1307)) / np.float32(0.3081)
    raw, _ = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
    y = np.frombuffer(raw, dtype=np.uint8)
    sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    correct = 0
    for i in range(0, len(y), 500):
        logits = sess.run(None, {name: x[i:i + 500]})[0]
        correct += int((logits.argmax(axis=1) == y[i:i + 500]).sum())
    print(f"onnxruntime_test_accuracy={correct / len(y):.4f}")


if __name__ == "__main__":
    main()
