"""Models to capture by name: torchvision CNNs and a GPT-style decoder.

``build("torchvision:resnet50", batch=16)`` or ``build("gpt:small", batch=8)``
returns a ``Workload``: the model (random weights, nothing downloaded), an
example batch, its targets, the loss and an optimizer -- everything
``capture`` needs.

The GPT decoder is written here from plain modules so that every op it
runs is one PyTorch 1.13 has on the CPU: token + position embeddings, pre-norm
blocks of causal self-attention (q/k/v projections, ``matmul`` + ``softmax``
with a causal mask) and a GELU MLP, a final layer norm and a language-model
head, trained with cross-entropy on next-token targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_seq: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        mask = torch.tril(torch.ones(max_seq, max_seq, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, max_seq, max_seq), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d_model = x.shape
        head = d_model // self.n_heads
        q, k, v = self.qkv(x).split(d_model, dim=2)
        q = q.view(batch, seq, self.n_heads, head).transpose(1, 2)
        k = k.view(batch, seq, self.n_heads, head).transpose(1, 2)
        v = v.view(batch, seq, self.n_heads, head).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head)
        scores = scores.masked_fill(~self.mask[:, :, :seq, :seq], float("-inf"))
        weights = self.dropout(torch.softmax(scores, dim=-1))
        y = torch.matmul(weights, v).transpose(1, 2).contiguous().view(batch, seq, d_model)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_seq: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, max_seq, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),
            nn.GELU(),
            nn.Linear(4 * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A GPT-style decoder-only language model."""

    def __init__(
        self,
        vocab: int = 1024,
        d_model: int = 256,
        n_layers: int = 4,
        n_heads: int = 4,
        max_seq: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.max_seq = max_seq
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(max_seq, d_model)
        self.blocks = nn.Sequential(
            *[Block(d_model, n_heads, max_seq, dropout) for _ in range(n_layers)]
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        seq = idx.shape[1]
        if seq > self.max_seq:
            raise ValueError(f"sequence of {seq} tokens exceeds max_seq {self.max_seq}")
        positions = torch.arange(seq, device=idx.device)
        x = self.tokens(idx) + self.positions(positions)
        return self.head(self.ln_f(self.blocks(x)))


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of next-token logits [B, T, V] against targets [B, T]."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


GPT_SIZES = {
    # name: (vocab, d_model, n_layers, n_heads, seq)
    "tiny": (256, 64, 2, 2, 32),
    "small": (1024, 256, 4, 4, 128),
    "medium": (8192, 512, 8, 8, 256),
}

TORCHVISION_MODELS = (
    "resnet18",
    "resnet50",
    "resnet152",
    "vgg11",
    "vgg16",
    "vgg19",
    "densenet121",
    "inception_v3",
    "mobilenet_v2",
)


@dataclass
class Workload:
    name: str
    model: nn.Module
    inputs: tuple
    targets: tuple
    loss_fn: Callable[..., torch.Tensor]
    optimizer: torch.optim.Optimizer

    def capture(self):
        """``capture.capture`` of one training step of this workload."""
        from .capture import capture  # noqa: PLC0415 - capture imports nothing of this

        return capture(
            self.model,
            self.inputs,
            self.loss_fn,
            self.optimizer,
            targets=self.targets,
            name=self.name,
        )


def make_optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    """``sgd`` (momentum 0.9), ``adam`` or ``adamw`` over ``model``."""
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if kind == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-3)
    raise ValueError(f"optimizer {kind!r}: expected sgd, adam or adamw")


def build(spec: str, batch: int, optimizer: str = "sgd", seed: int = 0) -> Workload:
    """The workload ``spec`` names at ``batch``.

    ``spec``: ``torchvision:<name>`` (one of TORCHVISION_MODELS; ImageNet
    shapes, 1000 classes, 299x299 for Inception v3) or ``gpt:<size>`` (one of
    GPT_SIZES). ValueError for anything else.
    """
    if batch < 1:
        raise ValueError(f"batch {batch} must be >= 1")
    torch.manual_seed(seed)
    family, _, name = spec.partition(":")
    if family == "torchvision":
        import torchvision.models as tvm

        if name not in TORCHVISION_MODELS:
            raise ValueError(
                f"model {spec!r}: torchvision models here are " f"{', '.join(TORCHVISION_MODELS)}"
            )
        kwargs = {"weights": None}
        if name == "inception_v3":
            kwargs.update(aux_logits=False, init_weights=False)
        model = getattr(tvm, name)(**kwargs)
        side = 299 if name == "inception_v3" else 224
        inputs = (torch.randn(batch, 3, side, side),)
        targets = (torch.randint(0, 1000, (batch,)),)
        loss_fn = F.cross_entropy
    elif family == "gpt":
        if name not in GPT_SIZES:
            raise ValueError(f"model {spec!r}: GPT sizes are {', '.join(GPT_SIZES)}")
        vocab, d_model, n_layers, n_heads, seq = GPT_SIZES[name]
        model = GPT(vocab, d_model, n_layers, n_heads, seq)
        tokens = torch.randint(0, vocab, (batch, seq + 1))
        inputs = (tokens[:, :-1].contiguous(),)
        targets = (tokens[:, 1:].contiguous(),)
        loss_fn = lm_loss
    else:
        raise ValueError(f"model {spec!r}: expected torchvision:<name> or gpt:<size>")
    model.train()
    return Workload(
        name=f"{spec.replace(':', '-')}-bs{batch}",
        model=model,
        inputs=inputs,
        targets=targets,
        loss_fn=loss_fn,
        optimizer=make_optimizer(optimizer, model),
    )
