"""autotm.torch: PyTorch training iterations as autotm graphs."""
