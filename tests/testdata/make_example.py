#!/usr/bin/python3
"""Generates the bundled example: a small CNN training graph and its profile.

    /usr/bin/python3 tests/testdata/make_example.py [OUTPUT_DIR]

writes, into OUTPUT_DIR (default: this script's directory):

  example_cnn.graph.json      autotm.v1.Graph   (protobuf JSON mapping)
  example_cnn.profile.json    autotm.v1.Profile (protobuf JSON mapping)
  bad_unknown_tensor.graph.json   a kernel reads a tensor that does not exist
  bad_malformed.graph.json        truncated JSON
  bad_missing_kernel.profile.json the profile without one kernel signature

The output is deterministic: rerunning it reproduces the committed files.

THE GRAPH. A VGG-style CNN for 32x32 RGB images (CIFAR-10 shaped) at batch
32, fp32, one training iteration in execution order:

  forward   3 blocks of 3x3 convolutions (pad 1) + ReLU, each block ending in
            a 2x2 max pool: [3->32, 32->32], [32->64, 64->64, 64->64],
            [64->128, 128->128]; a fully connected layer 2048->10 on the
            flattened 128x4x4 features; softmax cross-entropy loss.
  backward  the loss gradient, then every layer in reverse: linear
            data/weight gradients, max-pool, ReLU and convolution
            data/filter gradients (no data gradient for the first
            convolution: the input batch needs none).
  update    one sgd_update per weight and bias, reading the weight and its
            gradient and writing the new weight "<w>.next" (role WEIGHT).

Backward kernels read the forward activations they need (ReLU outputs for
relu_bwd, max-pool inputs for maxpool2d_bwd, convolution inputs for
conv2d_bwd_filter), so those stay live across the iteration as they do in a
real framework. The input batch "x" and the labels are INPUT tensors; "x" is
pinned to fast memory (fixed_tier), as a data loader that DMAs the batch into
DRAM would do, so a tiny budget is infeasible. Identical layers (conv2b and
conv2c; the two ReLUs of a block; biases of equal size) have identical
signatures and so share profile entries.

THE PROFILE (synthetic: no hardware was measured). Every unique signature
gets a full table of 2^n configurations for its n operands.

  base time  = max(FLOPs / 1.5 TFLOP/s, operand bytes / 100 GB/s) + 5 us
               (a roofline with a kernel-launch overhead)
  slowdown   = product over operands in the slow tier of a per-op factor,
               capped at 12x:
                 compute-bound ops (conv2d_*, linear_*):   input 1.1, output 2.0
                 memory-bound ops (relu, pool, loss, sgd): input 2.5, output 7.0
               shaped after AutoTM's Optane measurements (autotm.md 3.3:
               slow outputs dominate; elementwise ops suffer most)
  time       = base time * slowdown
  bandwidths = AutoTM's Optane copy constants: 29 GB/s slow->fast and
               12 GB/s fast->slow synchronous, 2 / 2.5 GB/s asynchronous.
"""

import json
import math
import os
import sys

BATCH = 32
NUM_CLASSES = 10
IMAGE = (3, 32, 32)

PEAK_FLOPS = 1.5e12  # FLOP/s
PEAK_BYTES = 100e9  # bytes/s
LAUNCH_US = 5.0
MAX_SLOWDOWN = 12.0
# (slow input factor, slow output factor) per op family.
COMPUTE_FACTORS = (1.1, 2.0)
MEMORY_FACTORS = (2.5, 7.0)

F32 = "DATA_TYPE_F32"
I64 = "DATA_TYPE_I64"
DTYPE_BYTES = {F32: 4, I64: 8}


class GraphBuilder:
    def __init__(self, name):
        self.name = name
        self.tensors = []  # graph order
        self.shapes = {}  # id -> (dims, dtype)
        self.kernels = []
        self.flops = {}  # kernel id -> FLOPs

    def tensor(self, tid, dims, role, dtype=F32, fixed_tier=None):
        assert tid not in self.shapes, tid
        self.shapes[tid] = (list(dims), dtype)
        entry = {
            "id": tid,
            "sizeBytes": math.prod(dims) * DTYPE_BYTES[dtype],
            "role": role,
        }
        if fixed_tier:
            entry["fixedTier"] = fixed_tier
        self.tensors.append(entry)
        return tid

    def activation(self, tid, dims, dtype=F32):
        return self.tensor(tid, dims, "TENSOR_ROLE_ACTIVATION", dtype)

    def kernel(self, kid, op, inputs, outputs, flops, attributes=None):
        def spec(tid):
            dims, dtype = self.shapes[tid]
            return {"dims": dims, "dtype": dtype}

        signature = {
            "op": op,
            "inputs": [spec(t) for t in inputs],
            "outputs": [spec(t) for t in outputs],
        }
        if attributes:
            signature["attributes"] = {k: str(v) for k, v in attributes.items()}
        self.kernels.append({
            "id": kid,
            "op": op,
            "inputs": list(inputs),
            "outputs": list(outputs),
            "signature": signature,
        })
        self.flops[kid] = flops

    def numel(self, tid):
        return math.prod(self.shapes[tid][0])

    def graph(self):
        return {"name": self.name, "tensors": self.tensors,
                "kernels": self.kernels}


CONV_ATTRS = {"kernel": 3, "stride": 1, "pad": 1}
POOL_ATTRS = {"kernel": 2, "stride": 2}
# (name, input channels, output channels) per block; each block ends in a pool.
BLOCKS = [
    [("conv1a", 3, 32), ("conv1b", 32, 32)],
    [("conv2a", 32, 64), ("conv2b", 64, 64), ("conv2c", 64, 64)],
    [("conv3a", 64, 128), ("conv3b", 128, 128)],
]


def build_graph():
    g = GraphBuilder("example-cnn-bs32")
    n = BATCH
    c, h, w = IMAGE
    x = g.tensor("x", [n, c, h, w], "TENSOR_ROLE_INPUT", fixed_tier="TIER_FAST")
    labels = g.tensor("labels", [n], "TENSOR_ROLE_INPUT", dtype=I64)

    weights = []  # (weight id, gradient id) in update order
    layers = []  # forward layers, for the backward pass

    # Forward.
    cur = x
    for b, block in enumerate(BLOCKS, start=1):
        for name, cin, cout in block:
            wt = g.tensor(f"{name}.w", [cout, cin, 3, 3], "TENSOR_ROLE_WEIGHT")
            bias = g.tensor(f"{name}.b", [cout], "TENSOR_ROLE_WEIGHT")
            conv = g.activation(f"{name}.out", [n, cout, h, w])
            macs = n * cout * h * w * cin * 9
            g.kernel(f"{name}.fwd", "conv2d_fwd", [cur, wt, bias], [conv],
                     2 * macs + g.numel(conv), CONV_ATTRS)
            relu_name = name.replace("conv", "relu")
            relu = g.activation(f"{relu_name}.out", [n, cout, h, w])
            g.kernel(f"{relu_name}.fwd", "relu_fwd", [conv], [relu],
                     g.numel(relu))
            layers.append(("conv", name, cur, wt, bias, macs))
            layers.append(("relu", relu_name, relu))
            weights += [(wt, f"{wt}.grad"), (bias, f"{bias}.grad")]
            cur = relu
        h, w = h // 2, w // 2
        cout = block[-1][2]
        pool = g.activation(f"pool{b}.out", [n, cout, h, w])
        g.kernel(f"pool{b}.fwd", "maxpool2d_fwd", [cur], [pool], g.numel(cur),
                 POOL_ATTRS)
        layers.append(("pool", f"pool{b}", cur))
        cur = pool

    features = g.numel(cur) // n
    fc_w = g.tensor("fc.w", [NUM_CLASSES, features], "TENSOR_ROLE_WEIGHT")
    fc_b = g.tensor("fc.b", [NUM_CLASSES], "TENSOR_ROLE_WEIGHT")
    logits = g.activation("fc.out", [n, NUM_CLASSES])
    fc_macs = n * features * NUM_CLASSES
    g.kernel("fc.fwd", "linear_fwd", [cur, fc_w, fc_b], [logits],
             2 * fc_macs + n * NUM_CLASSES)
    weights += [(fc_w, "fc.w.grad"), (fc_b, "fc.b.grad")]
    loss = g.activation("loss", [])
    probs = g.activation("loss.probs", [n, NUM_CLASSES])
    g.kernel("loss.fwd", "softmax_xent_fwd", [logits, labels], [loss, probs],
             5 * n * NUM_CLASSES)

    # Backward.
    dlogits = g.activation("fc.out.grad", [n, NUM_CLASSES])
    g.kernel("loss.bwd", "softmax_xent_bwd", [probs, labels], [dlogits],
             2 * n * NUM_CLASSES)
    dcur = g.activation(f"{cur}.grad", g.shapes[cur][0])
    g.kernel("fc.bwd_data", "linear_bwd_data", [dlogits, fc_w], [dcur],
             2 * fc_macs)
    g.activation("fc.w.grad", g.shapes[fc_w][0])
    g.activation("fc.b.grad", g.shapes[fc_b][0])
    g.kernel("fc.bwd_weight", "linear_bwd_weight", [dlogits, cur],
             ["fc.w.grad", "fc.b.grad"], 2 * fc_macs + n * NUM_CLASSES)

    for layer in reversed(layers):
        kind, name = layer[0], layer[1]
        if kind == "pool":
            pool_in = layer[2]
            dx = g.activation(f"{pool_in}.grad", g.shapes[pool_in][0])
            g.kernel(f"{name}.bwd", "maxpool2d_bwd", [dcur, pool_in], [dx],
                     g.numel(pool_in), POOL_ATTRS)
            dcur = dx
        elif kind == "relu":
            relu = layer[2]
            conv = relu.replace("relu", "conv")
            dx = g.activation(f"{conv}.grad", g.shapes[conv][0])
            g.kernel(f"{name}.bwd", "relu_bwd", [dcur, relu], [dx],
                     g.numel(relu))
            dcur = dx
        else:
            conv_in, wt, bias, macs = layer[2:]
            dw = g.activation(f"{wt}.grad", g.shapes[wt][0])
            db = g.activation(f"{bias}.grad", g.shapes[bias][0])
            g.kernel(f"{name}.bwd_filter", "conv2d_bwd_filter",
                     [dcur, conv_in], [dw, db], 2 * macs + g.numel(dcur),
                     CONV_ATTRS)
            if conv_in == x:
                continue  # the input batch needs no gradient
            dx = g.activation(f"{conv_in}.grad", g.shapes[conv_in][0])
            g.kernel(f"{name}.bwd_data", "conv2d_bwd_data", [dcur, wt], [dx],
                     2 * macs, CONV_ATTRS)
            dcur = dx

    # SGD update, after the whole backward pass (optimizer.step()).
    for wt, grad in weights:
        new = g.tensor(f"{wt}.next", g.shapes[wt][0], "TENSOR_ROLE_WEIGHT")
        g.kernel(f"{wt}.sgd", "sgd_update", [wt, grad], [new],
                 2 * g.numel(wt))

    return g


def slowdown_factors(op):
    if op.startswith("conv2d_") or op.startswith("linear_"):
        return COMPUTE_FACTORS
    return MEMORY_FACTORS


def operand_bytes(spec):
    return math.prod(spec["dims"]) * DTYPE_BYTES[spec["dtype"]]


def build_profile(g):
    entries = {}  # canonical signature text -> KernelProfile
    for kernel in g.kernels:
        sig = kernel["signature"]
        key = json.dumps(sig, sort_keys=True)
        flops = g.flops[kernel["id"]]
        if key in entries:
            assert entries[key][1] == flops, (kernel["id"], "FLOPs differ")
            continue
        num_in, num_out = len(sig["inputs"]), len(sig["outputs"])
        total_bytes = sum(operand_bytes(s) for s in sig["inputs"] + sig["outputs"])
        base_us = max(flops / PEAK_FLOPS, total_bytes / PEAK_BYTES) * 1e6
        base_us += LAUNCH_US
        in_factor, out_factor = slowdown_factors(sig["op"])
        configs = []
        for mask in range(1 << (num_in + num_out)):
            factor = 1.0
            letters = []
            for p in range(num_in + num_out):
                slow = bool(mask >> p & 1)
                letters.append("S" if slow else "F")
                if slow:
                    factor *= in_factor if p < num_in else out_factor
            config = "".join(letters[:num_in]) + "|" + "".join(letters[num_in:])
            time_us = round(base_us * min(factor, MAX_SLOWDOWN), 2)
            configs.append({"config": config, "timeUs": time_us})
        entries[key] = ({"signature": sig, "configs": configs}, flops)
    return {
        "hostClass": {
            "name": "example-optane-like",
            "fingerprint": (
                "synthetic, not measured: roofline base time (1.5 TFLOP/s, "
                "100 GB/s, 5 us launch) times Optane-like slowdowns per slow "
                "operand (conv/linear 1.1 in, 2.0 out; others 2.5 in, 7.0 "
                "out; capped at 12x); generated by "
                "tests/testdata/make_example.py"),
            "fastTierName": "DRAM (modelled)",
            "slowTierName": "Optane PMM (modelled)",
        },
        "bandwidths": {
            "slowToFastSyncGbPerS": 29.0,
            "fastToSlowSyncGbPerS": 12.0,
            "slowToFastAsyncGbPerS": 2.0,
            "fastToSlowAsyncGbPerS": 2.5,
        },
        "kernels": [entry for entry, _ in entries.values()],
    }


def write_json(path, value):
    text = json.dumps(value, indent=2) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    g = build_graph()
    graph = g.graph()
    profile = build_profile(g)
    graph_text = write_json(os.path.join(out_dir, "example_cnn.graph.json"),
                            graph)
    write_json(os.path.join(out_dir, "example_cnn.profile.json"), profile)

    # Bad inputs for the end-to-end tests.
    bad = json.loads(json.dumps(graph))
    target = next(k for k in bad["kernels"] if k["id"] == "conv2c.fwd")
    target["inputs"][0] = "relu2x.out"  # a typo for relu2b.out
    write_json(os.path.join(out_dir, "bad_unknown_tensor.graph.json"), bad)

    with open(os.path.join(out_dir, "bad_malformed.graph.json"), "w") as f:
        f.write(graph_text[: len(graph_text) // 3])

    missing = json.loads(json.dumps(profile))
    missing["kernels"] = [
        k for k in missing["kernels"]
        if not (k["signature"]["op"] == "sgd_update"
                and k["signature"]["inputs"][0]["dims"] == [NUM_CLASSES])
    ]
    assert len(missing["kernels"]) == len(profile["kernels"]) - 1
    write_json(os.path.join(out_dir, "bad_missing_kernel.profile.json"),
               missing)

    sizes = [t["sizeBytes"] for t in graph["tensors"]]
    print(f"{graph['name']}: {len(graph['kernels'])} kernels, "
          f"{len(graph['tensors'])} tensors ({sum(sizes) / 2**20:.1f} MiB), "
          f"{len(profile['kernels'])} unique signatures", file=sys.stderr)


if __name__ == "__main__":
    main()
