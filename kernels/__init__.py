"""Triton kernels, each beside its plain PyTorch reference. Imports only torch and triton."""
