"""Counting conventions, in one place: every derived number is computed here from raw costs.

See docs/conventions.md for what each switch means and which paper or tool uses which setting.
"""

from __future__ import annotations

from .errors import SpecError
from .record import record

# Bytes per element of each supported dtype.
INPLACE_MODES = ("all", "spec", "none")

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


@record
class Conventions:
    """How counts are made. Defaults: biases counted, FLOPs = 2·MACs + per-element costs."""

    bias: bool = True                 # count biases in params, and bias adds in FLOPs
    bias_connections: bool = False    # count each unit's bias input as a connection (LeCun 1998)
    flops_per_mac: int = 2            # 2: a multiply and an add (torch flop_counter); 1: FLOPs = MACs
    elementwise_flops: bool = True    # add bias/pool/activation/norm per-element costs to FLOPs
    # Memory of activations that PyTorch can run in place (those with an `inplace` argument):
    # "all": none stored (CS231n's tables), "spec": only those with inplace=true in the spec
    # (what a forward pass allocates), "none": every output stored.
    inplace_activations: str = "all"
    dtype: str = "float32"
    batch: int = 1
    # Bytes per element of a dropout mask that training keeps for backward: 1 (the bool mask of
    # PyTorch's fused CUDA kernel); PyTorch on CPU keeps a dtype-sized noise tensor instead.
    mask_bytes: int = 1

    def __post_init__(self) -> None:
        from .errors import SpecTypeError

        for name in ("bias", "bias_connections", "elementwise_flops"):
            if not isinstance(getattr(self, name), bool):
                raise SpecTypeError(f"must be true or false, got {getattr(self, name)!r}",
                                    field=name)
        for name in ("flops_per_mac", "batch", "mask_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecTypeError(f"must be an integer, got {value!r}", field=name)
        for name in ("dtype", "inplace_activations"):
            if not isinstance(getattr(self, name), str):
                raise SpecTypeError(f"must be a string, got {getattr(self, name)!r}", field=name)
        if self.dtype not in DTYPE_BYTES:
            raise SpecError(f"unknown dtype {self.dtype!r}", field="dtype",
                            hint=f"choose one of {', '.join(DTYPE_BYTES)}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise SpecError(f"must be a positive integer, got {self.batch!r}", field="batch")
        if self.inplace_activations not in INPLACE_MODES:
            raise SpecError(f"must be one of {', '.join(INPLACE_MODES)}, got "
                            f"{self.inplace_activations!r}", field="inplace_activations")
        if self.flops_per_mac not in (1, 2):
            raise SpecError(f"must be 1 or 2, got {self.flops_per_mac!r}", field="flops_per_mac")
        if self.mask_bytes not in (1, 2, 4, 8):
            raise SpecError(f"must be 1, 2, 4 or 8, got {self.mask_bytes!r}", field="mask_bytes")

    @property
    def bytes_per_element(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def describe(self) -> str:
        """One line stating the conventions in force, printed under every report."""
        parts = [
            "biases counted" if self.bias else "biases excluded (--no-bias)",
            "bias inputs counted as connections" if self.bias_connections and self.bias
            else "connections exclude bias inputs",
            f"FLOPs = {self.flops_per_mac}·MACs"
            + (" + per-element ops" if self.elementwise_flops else ""),
            f"MACs/FLOPs/memory for batch {self.batch}",
            f"{self.dtype} ({self.bytes_per_element} B/element)",
            {"all": "activations that can run in place store nothing",
             "spec": "activations marked inplace store nothing",
             "none": "every activation output stored"}[self.inplace_activations],
        ]
        return "; ".join(parts)
