#!/usr/bin/env python3
"""Checks an ONNX model written by `dl::onnx::export` with the ONNX tools.

Usage: onnx_check.py MODEL CASE [CASE ...]
where CASE is `INPUT.bin:OUTPUT.bin:D0,D1,...`: INPUT.bin holds float32
little-endian values of shape [D0, D1, ...] (D0 is the batch); the model's
output for it is written to OUTPUT.bin the same way.

1. `onnx.checker.check_model(model, full_check=True)` (structure, operator
   schemas for the imported opset, and shape inference over the graph);
2. the input and output have a symbolic first dimension (`batch`);
3. ONNX Runtime (CPU) runs every case.

Prints one line per case: `case N: input [..] -> output [..]`; exits with 1
and a message on any failure. Needs `onnx`, `onnxruntime` and `numpy`
(scripts/install-onnx.sh).
"""
import sys


def fail(msg):
    print(f"onnx_check: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) < 3:
        fail(__doc__)
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        fail(f"missing Python package ({e}); run scripts/install-onnx.sh")

    path = argv[1]
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # checker and shape-inference errors
        fail(f"onnx.checker.check_model(full_check=True) failed: {e}")
    opsets = {o.domain: o.version for o in model.opset_import}
    for v in list(model.graph.input) + list(model.graph.output):
        d0 = v.type.tensor_type.shape.dim[0]
        if d0.dim_param != "batch":
            fail(f"`{v.name}` has no dynamic batch dimension (first dim {d0})")
    print(f"checker: ok (ir_version {model.ir_version}, opset {opsets}, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers); "
          f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    for i, case in enumerate(argv[2:]):
        try:
            inp, out, dims = case.split(":")
            shape = [int(d) for d in dims.split(",")]
        except ValueError:
            fail(f"bad case `{case}` (expected IN.bin:OUT.bin:D0,D1,...)")
        x = np.fromfile(inp, dtype="<f4")
        if x.size != int(np.prod(shape)):
            fail(f"{inp}: {x.size} values, shape {shape} needs {int(np.prod(shape))}")
        y = sess.run(None, {in_name: x.reshape(shape)})[0]
        np.ascontiguousarray(y, dtype="<f4").tofile(out)
        print(f"case {i}: input {shape} -> output {list(y.shape)}")


if __name__ == "__main__":
    main(sys.argv)
