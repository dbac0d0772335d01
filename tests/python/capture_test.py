"""Tests of autotm.torch.capture: graphs of real PyTorch training steps.

Each captured graph is checked against PyTorch's own accounting (parameter,
buffer and optimizer-state bytes; the tensors autograd saves for backward,
seen through saved-tensor hooks), against the planner's graph rules (by the
real `autotm graph stats` when AUTOTM_CLI names the binary), and its FX
graph is replayed to reproduce the same training step.
"""

import copy
import os
import subprocess
import tempfile
import unittest

import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

import autotm
from autotm.torch import models
from autotm.torch import signature as sig
from autotm.torch.capture import CaptureError, capture
from autotm.v1 import graph_pb2

ROLE = graph_pb2.TensorRole


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


def tensor_bytes(t):
    return t.numel() * t.element_size()


def check_graph_rules(test, graph):
    """SSA order: each tensor produced once, read only after it exists."""
    ids = [t.id for t in graph.tensors]
    test.assertEqual(len(ids), len(set(ids)), "duplicate tensor ids")
    by_id = {t.id: t for t in graph.tensors}
    produced = set()
    arguments = {t.id for t in graph.tensors}
    for kernel in graph.kernels:
        for output in kernel.outputs:
            arguments.discard(output)
    for kernel in graph.kernels:
        test.assertEqual(len(kernel.inputs), len(kernel.signature.inputs), kernel.id)
        test.assertEqual(len(kernel.outputs), len(kernel.signature.outputs), kernel.id)
        for tensor_id in kernel.inputs:
            test.assertIn(tensor_id, by_id, kernel.id)
            test.assertTrue(
                tensor_id in arguments or tensor_id in produced,
                f"{kernel.id} reads {tensor_id} before it is written",
            )
        for tensor_id in kernel.outputs:
            test.assertNotIn(tensor_id, produced, f"{tensor_id} produced twice")
            test.assertNotIn(tensor_id, kernel.inputs, kernel.id)
            produced.add(tensor_id)
        for i, spec in enumerate(kernel.signature.inputs):
            nbytes = (
                sig.storage_numel(kernel.signature, "in", i)
                * torch.empty((), dtype=sig.torch_dtype(spec.dtype)).element_size()
            )
            test.assertLessEqual(nbytes, by_id[kernel.inputs[i]].size_bytes, kernel.id)
    for t in graph.tensors:
        test.assertGreater(t.size_bytes, 0, t.id)
        test.assertNotEqual(t.role, ROLE.TENSOR_ROLE_UNSPECIFIED, t.id)


def check_with_cli(test, graph):
    cli = os.environ.get("AUTOTM_CLI")
    if not cli:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "g.graph.json")
        autotm.save_message(graph, path)
        run = subprocess.run(
            [cli, "graph", "stats", path], capture_output=True, text=True, timeout=300
        )
        test.assertEqual(run.returncode, 0, run.stderr + run.stdout)


def role_bytes(graph, role, versions=False):
    return sum(
        t.size_bytes for t in graph.tensors if t.role == role and (versions or "@" not in t.id)
    )


def saved_by_autograd(model, inputs, targets, loss_fn):
    """Storages (address -> bytes) autograd saves in the forward pass."""
    saved = {}

    def pack(t):
        storage = t.storage()
        saved[storage.data_ptr()] = storage.size() * storage.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(model(*inputs), *targets)
    del loss
    return saved


def base_id(tensor_id):
    return tensor_id.split("@")[0]


def saved_and_read_activations(result):
    """(activations autograd saved, activations backward kernels read), as
    base ids: forward-produced storages, versions folded. The loss is read by
    backward's seed (ones_like) without being saved, so it is left out."""
    graph = result.graph
    roles = {t.id: t.role for t in graph.tensors}
    forward_end = result.phases["forward"][1]
    begin, end = result.phases["backward"]
    forward = set()
    for kernel in graph.kernels[:forward_end]:
        forward.update(
            o for o in kernel.outputs if roles[o] == ROLE.TENSOR_ROLE_ACTIVATION and "@" not in o
        )
    loss = {base_id(i) for i in graph.kernels[begin].inputs}
    read = set()
    for kernel in graph.kernels[begin:end]:
        read.update(base_id(i) for i in kernel.inputs)
    saved = {base_id(i) for i in result.saved_tensor_ids}
    return (saved & forward) - loss, (read & forward) - loss


def replay(result, model, optimizer, inputs, targets):
    """Runs the captured FX graph on `model`'s and `optimizer`'s tensors."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    state_by_name = {}
    for name, p in params.items():
        for key, value in optimizer.state.get(p, {}).items():
            state_by_name[(name, key)] = value
    values = []
    for node in result.fx_graph.nodes:
        if node.op != "placeholder":
            continue
        what = result.placeholders[node.name]
        kind = what[0]
        if kind == "param":
            values.append(params[what[1]])
        elif kind == "buffer":
            values.append(buffers[what[1]])
        elif kind == "state":
            values.append(state_by_name[(what[1], what[2])])
        elif kind == "input":
            values.append(inputs[what[1]])
        elif kind == "target":
            values.append(targets[what[1]])
        else:
            values.append(result.constants[node.name])
    module = torch.fx.GraphModule(nn.Module(), result.fx_graph)
    with torch.no_grad():
        return torch.fx.Interpreter(module).run(*values)


class CaptureSmallModelTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model = SmallCnn().train()
        self.x = torch.randn(4, 3, 8, 8)
        self.y = torch.randint(0, 10, (4,))

    def capture_with(self, optimizer):
        return capture(self.model, self.x, F.cross_entropy, optimizer, targets=self.y)

    def test_sgd_step_matches_pytorch_accounting(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        result = self.capture_with(optimizer)
        graph = result.graph
        check_graph_rules(self, graph)
        check_with_cli(self, graph)

        params = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        self.assertEqual(
            role_bytes(graph, ROLE.TENSOR_ROLE_WEIGHT),
            sum(tensor_bytes(t) for t in params.values())
            + sum(tensor_bytes(b) for b in buffers.values()),
        )
        # Momentum: one buffer per parameter, the parameter's size.
        self.assertEqual(
            role_bytes(graph, ROLE.TENSOR_ROLE_OPTIMIZER_STATE),
            sum(tensor_bytes(t) for t in params.values()),
        )
        inputs = [t for t in graph.tensors if t.role == ROLE.TENSOR_ROLE_INPUT]
        self.assertEqual(sorted(t.id for t in inputs), ["input:0", "target:0"])
        self.assertTrue(all(t.fixed_tier == graph_pb2.TIER_FAST for t in inputs))
        self.assertEqual(
            next(t.size_bytes for t in inputs if t.id == "input:0"), tensor_bytes(self.x)
        )
        # The caller's model and optimizer are untouched.
        self.assertEqual(optimizer.state_dict()["state"], {})

    def test_every_weight_and_state_gets_a_final_version(self):
        optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        result = self.capture_with(optimizer)
        graph = result.graph
        check_graph_rules(self, graph)
        check_with_cli(self, graph)
        ids = {t.id: t for t in graph.tensors}
        opt_begin = result.phases["optimizer"][0]
        written_in_optimizer = set()
        for kernel in graph.kernels[opt_begin:]:
            written_in_optimizer.update(kernel.outputs)
        for name, p in self.model.named_parameters():
            versions = [i for i in ids if i.startswith(f"param:{name}@")]
            self.assertEqual(len(versions), 1, name)  # one addcdiv_ per step
            self.assertIn(versions[0], written_in_optimizer)
            self.assertEqual(ids[versions[0]].role, ROLE.TENSOR_ROLE_WEIGHT)
            for key in ("exp_avg", "exp_avg_sq", "step"):
                self.assertIn(f"state:{name}.{key}", ids)
        # Adam's state: two moments the size of each parameter plus a step
        # count (a 0-dim float tensor) each.
        params = list(self.model.parameters())
        self.assertEqual(
            role_bytes(graph, ROLE.TENSOR_ROLE_OPTIMIZER_STATE),
            2 * sum(tensor_bytes(p) for p in params) + 4 * len(params),
        )
        # Batch norm's running statistics are written in place (a hidden
        # write native_batch_norm's schema does not declare).
        self.assertIn("buffer:bn.running_mean@1", ids)
        self.assertIn("buffer:bn.running_var@1", ids)
        bn = next(k for k in graph.kernels if k.op == "aten::native_batch_norm.default")
        self.assertEqual(bn.signature.attributes["writes"], "[t3,t4]")
        self.assertEqual(
            list(bn.outputs)[-2:], ["buffer:bn.running_mean@1", "buffer:bn.running_var@1"]
        )

    def test_frozen_weights_and_the_loss_are_persistent(self):
        """A frozen layer's weights are read and never replaced: the step
        hands them on as they are (Tensor.persistent), as it does the loss;
        a trained weight is replaced by its update and is not."""
        for p in self.model.conv.parameters():
            p.requires_grad_(False)
        trained = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trained, lr=0.1, momentum=0.9)
        graph = self.capture_with(optimizer).graph
        check_with_cli(self, graph)
        persistent = {t.id for t in graph.tensors if t.persistent}
        loss = next(k for k in graph.kernels if k.op == "aten::nll_loss_forward.default")
        self.assertEqual(persistent, {"param:conv.weight", "param:conv.bias", loss.outputs[0]})
        # The batch norm's running statistics are updated: their last
        # versions persist by their role, not by the flag.
        self.assertIn("buffer:bn.running_mean@1", {t.id for t in graph.tensors})

    def test_views_are_not_tensors_and_keep_their_strides(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        graph = self.capture_with(optimizer).graph
        ops = {k.op for k in graph.kernels}
        for view_op in (
            "aten::view.default",
            "aten::t.default",
            "aten::detach.default",
            "aten::_unsafe_view.default",
            "aten::expand.default",
        ):
            self.assertNotIn(view_op, ops)
        # The linear layer's weight enters addmm transposed: a strided view
        # of the weight tensor itself.
        addmm = next(k for k in graph.kernels if k.op == "aten::addmm.default")
        self.assertEqual(addmm.inputs[2], "param:fc.weight")
        self.assertEqual(addmm.signature.attributes["in2.layout"], "[[1,128],0,1280]")

    def test_saved_activations_agree_with_autograd(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        result = self.capture_with(optimizer)
        saved, read = saved_and_read_activations(result)
        self.assertEqual(saved, read)
        self.assertTrue(saved)
        by_id = {t.id: t.size_bytes for t in result.graph.tensors}
        saved = saved_by_autograd(copy.deepcopy(self.model), (self.x,), (self.y,), F.cross_entropy)
        # Autograd saves the same storages once per save; the graph counts
        # each once: equal bytes over forward activations plus arguments.
        self.assertEqual(
            sum(by_id[i] for i in {base_id(i) for i in result.saved_tensor_ids}),
            sum(saved.values()),
        )

    def test_fx_graph_replays_the_same_training_step(self):
        optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        # A step first, so the optimizer has state (steady state).
        optimizer.zero_grad()
        F.cross_entropy(self.model(self.x), self.y).backward()
        optimizer.step()
        result = self.capture_with(optimizer)

        reference_model = copy.deepcopy(self.model)
        reference_opt = torch.optim.Adam(reference_model.parameters(), lr=1e-2)
        reference_opt.load_state_dict(optimizer.state_dict())
        reference_opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(reference_model(self.x), self.y)
        loss.backward()
        reference_opt.step()

        replay_model = copy.deepcopy(self.model)
        replay_opt = torch.optim.Adam(replay_model.parameters(), lr=1e-2)
        replay_opt.load_state_dict(optimizer.state_dict())
        for p in replay_model.parameters():
            p.requires_grad_(False)
        replay_loss = replay(result, replay_model, replay_opt, (self.x,), (self.y,))

        self.assertAlmostEqual(float(replay_loss), float(loss), places=5)
        self.assertAlmostEqual(result.loss, float(loss), places=5)
        for (name, p), q in zip(reference_model.named_parameters(), replay_model.parameters()):
            torch.testing.assert_close(q, p, msg=name)
        for (name, b), c in zip(reference_model.named_buffers(), replay_model.buffers()):
            torch.testing.assert_close(c, b, msg=name)

    def test_equal_kernels_share_one_signature(self):
        model = nn.Sequential(
            nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4)
        )
        result = capture(
            model,
            torch.randn(2, 16),
            F.cross_entropy,
            torch.optim.SGD(model.parameters(), lr=0.1),
            targets=torch.tensor([0, 1]),
        )
        relus = [k for k in result.graph.kernels if k.op == "aten::relu.default"]
        self.assertEqual(len(relus), 2)
        self.assertEqual(relus[0].signature, relus[1].signature)


class CaptureErrorTest(unittest.TestCase):
    def test_unsupported_dtype_names_the_op_and_module(self):
        class Spectral(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(8, 8)

            def forward(self, x):
                return torch.fft.rfft(self.proj(x)).abs()

        model = nn.Sequential(Spectral())
        with self.assertRaises(CaptureError) as raised:
            capture(
                model,
                torch.randn(2, 8),
                lambda out: out.sum(),
                torch.optim.SGD(model.parameters(), lr=0.1),
            )
        message = str(raised.exception)
        self.assertIn("complex", message)
        self.assertIn("in 0", message)  # the module path of Spectral

    def test_non_aten_op_is_refused(self):
        library = torch.library.Library("autotm_capture_test", "DEF")
        library.define("double_it(Tensor x) -> Tensor")
        library.impl("double_it", lambda x: x * 2, "CPU")

        class Custom(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(4, 4)

            def forward(self, x):
                return torch.ops.autotm_capture_test.double_it(self.lin(x))

        model = Custom()
        with self.assertRaises(CaptureError) as raised:
            capture(
                model,
                torch.randn(2, 4),
                lambda out: out.sum(),
                torch.optim.SGD(model.parameters(), lr=0.1),
            )
        self.assertIn("autotm_capture_test::double_it", str(raised.exception))
        self.assertIn("only aten ops", str(raised.exception))

    def test_loss_that_is_not_a_scalar(self):
        model = nn.Linear(4, 2)
        with self.assertRaisesRegex(CaptureError, "not a scalar"):
            capture(
                model,
                torch.randn(3, 4),
                lambda out: out,
                torch.optim.SGD(model.parameters(), lr=0.1),
            )

    def test_model_without_parameters(self):
        model = nn.ReLU()
        with self.assertRaisesRegex(CaptureError, "no parameters"):
            capture(
                model,
                torch.randn(3, 4),
                lambda out: out.sum(),
                torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1),
            )


class CaptureRealModelsTest(unittest.TestCase):
    """torchvision CNNs and the GPT example, at small batches."""

    def check_workload(self, spec, batch, optimizer="sgd"):
        workload = models.build(spec, batch, optimizer)
        result = workload.capture()
        graph = result.graph
        check_graph_rules(self, graph)
        check_with_cli(self, graph)
        params = list(workload.model.parameters())
        buffers = list(workload.model.buffers())
        self.assertEqual(
            role_bytes(graph, ROLE.TENSOR_ROLE_WEIGHT),
            sum(map(tensor_bytes, params)) + sum(map(tensor_bytes, buffers)),
        )
        expected_state = (
            sum(map(tensor_bytes, params))
            if optimizer == "sgd"
            else 2 * sum(map(tensor_bytes, params)) + 4 * len(params)
        )
        self.assertEqual(role_bytes(graph, ROLE.TENSOR_ROLE_OPTIMIZER_STATE), expected_state)
        # Every activation the backward pass reads was saved by autograd.
        # (Autograd may save a little more: a tensor whose backward use the
        # engine skips, e.g. the input of an in-place ReLU6 before a mean;
        # the graph frees those earlier. At most 5% of the saved bytes.)
        saved, read = saved_and_read_activations(result)
        self.assertTrue(read, spec)
        self.assertLessEqual(read, saved, spec)
        size = {t.id: t.size_bytes for t in graph.tensors}
        self.assertLessEqual(
            sum(size[i] for i in saved - read), 0.05 * sum(size[i] for i in saved), spec
        )
        self.assertGreater(len(result.phases), 0)
        return result

    def test_resnet18(self):
        result = self.check_workload("torchvision:resnet18", 2)
        self.assertEqual(
            sum(1 for k in result.graph.kernels if k.op == "aten::convolution.default"), 20
        )

    def test_resnet50(self):
        self.check_workload("torchvision:resnet50", 2)

    def test_vgg11(self):
        self.check_workload("torchvision:vgg11", 1)

    def test_densenet121(self):
        self.check_workload("torchvision:densenet121", 1)

    def test_inception_v3(self):
        self.check_workload("torchvision:inception_v3", 2)

    def test_mobilenet_v2(self):
        self.check_workload("torchvision:mobilenet_v2", 2)

    def test_gpt_with_adam(self):
        result = self.check_workload("gpt:tiny", 2, optimizer="adam")
        ops = {k.op for k in result.graph.kernels}
        for op in (
            "aten::embedding.default",
            "aten::embedding_dense_backward.default",
            "aten::_softmax.default",
            "aten::native_layer_norm.default",
            "aten::gelu.default",
            "aten::bmm.default",
        ):
            self.assertIn(op, ops)
        # What the step hands on as it is stays held to its end, so the plan
        # must count it there: the attention masks (buffers no kernel
        # writes), the constants and the loss. A weight or state the
        # optimizer replaces is not (its new version persists by its role),
        # nor is the batch.
        graph = result.graph
        persistent = {t.id for t in graph.tensors if t.persistent}
        masks = {t.id for t in graph.tensors if t.id.endswith(".attn.mask")}
        self.assertEqual(len(masks), 2)
        self.assertLessEqual(masks, persistent)
        loss_kernel = next(k for k in graph.kernels if k.op == "aten::nll_loss_forward.default")
        self.assertIn(loss_kernel.outputs[0], persistent)
        replaced = {t.id.split("@")[0] for t in graph.tensors if "@" in t.id}
        self.assertFalse(persistent & replaced)
        self.assertFalse(any(t.startswith(("input:", "target:")) for t in persistent))
        constants = {t.id for t in graph.tensors if t.role == ROLE.TENSOR_ROLE_CONSTANT}
        self.assertLessEqual(constants, persistent)
        self.assertEqual(persistent - masks - constants, {loss_kernel.outputs[0]})


if __name__ == "__main__":
    unittest.main()
