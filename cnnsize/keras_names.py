"""Keras's names for layers and arguments, and what they are in a cnnsize spec.

Specs are often written from a slide or a Keras tutorial: `Dense(120)`, `Conv2D(filters=6,
kernel_size=5, strides=1, activation='relu')`. cnnsize's kinds and arguments are PyTorch's, so
those names get a did-you-mean that says what Keras's name is here (errors only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_POOL = "with kernel_size (Keras's pool_size); stride defaults to kernel_size, as Keras's strides"
_GLOBAL = ("with output_size: 1, then a flatten (Keras's global pooling does both; keepdims=True "
           "is the pool alone)")

# Keras's class, lowercased as the spec reads a type → (its spelling, what it is here).
TYPES: dict[str, tuple[str, str]] = {
    "dense": ("Dense", "linear with out_features (Keras's units): {type: linear, "
                       "out_features: 120}; a flatten comes before it after a convolution"),
    **{f"maxpooling{n}d": (f"MaxPooling{n}D", f"maxpool{n}d {_POOL}") for n in (1, 2, 3)},
    **{f"averagepooling{n}d": (f"AveragePooling{n}D", f"avgpool{n}d {_POOL}") for n in (1, 2, 3)},
    **{f"globalaveragepooling{n}d": (f"GlobalAveragePooling{n}D", f"adaptiveavgpool{n}d {_GLOBAL}")
       for n in (1, 2, 3)},
    **{f"globalavgpool{n}d": (f"GlobalAvgPool{n}D", f"adaptiveavgpool{n}d {_GLOBAL}")
       for n in (1, 2, 3)},
    **{f"globalmaxpooling{n}d": (f"GlobalMaxPooling{n}D", f"adaptivemaxpool{n}d {_GLOBAL}")
       for n in (1, 2, 3)},
    **{f"globalmaxpool{n}d": (f"GlobalMaxPool{n}D", f"adaptivemaxpool{n}d {_GLOBAL}")
       for n in (1, 2, 3)},
    **{f"conv{n}dtranspose": (f"Conv{n}DTranspose", f"convtranspose{n}d with out_channels "
                                                    "(Keras's filters)") for n in (1, 2, 3)},
    **{f"zeropadding{n}d": (f"ZeroPadding{n}D", f"zeropad{n}d with padding") for n in (1, 2, 3)},
    **{f"upsampling{n}d": (f"UpSampling{n}D", "upsample with scale_factor (Keras's size)")
       for n in (1, 2, 3)},
    "spatialdropout2d": ("SpatialDropout2D", "dropout2d with p (Keras's rate)"),
    "batchnormalization": ("BatchNormalization", "batchnorm2d after a convolution, batchnorm1d "
                                                 "after a linear layer"),
    "layernormalization": ("LayerNormalization", "layernorm with normalized_shape"),
    "depthwiseconv2d": ("DepthwiseConv2D", "conv2d with groups and out_channels equal to its "
                                           "input channels (times Keras's depth_multiplier)"),
    "separableconv2d": ("SeparableConv2D", "two layers: a conv2d with groups equal to its input "
                                           "channels (depthwise), then a conv2d with kernel_size: "
                                           "1 and out_channels (pointwise)"),
    "activation": ("Activation", "the activation's own type: Activation('relu') is {type: relu}"),
    "concatenate": ("Concatenate", "cat with inputs: [...]; Keras's axis=-1 (channels last) is "
                                   "dim: 1 here (channels first)"),
    "multiply": ("Multiply", "mul with inputs: [...]"),
    "subtract": ("Subtract", "sub with inputs: [...]"),
    "inputlayer": ("InputLayer", "the spec's top-level input: [C, H, W], channels first"),
    "input": ("Input", "the spec's top-level input: [C, H, W], channels first"),
}

# Keras's argument → cnnsize's (PyTorch's) name.
ARGS: dict[str, str] = {
    "filters": "out_channels", "units": "out_features", "strides": "stride",
    "pool_size": "kernel_size", "use_bias": "bias", "dilation_rate": "dilation", "rate": "p",
    "epsilon": "eps", "axis": "dim", "alpha": "negative_slope",
}

# Keras's arguments that are no argument here, and what to do instead.
OTHERS: dict[str, str] = {
    "activation": "an activation is a layer of its own here, as in PyTorch: add {type: relu} "
                  "after this one",
    "input_shape": "Keras's input_shape is the spec's top-level input, channels first: "
                   "[32, 32, 1] is input: [1, 32, 32]",
    "data_format": "shapes are channels first here, as in PyTorch (Keras's 'channels_first'): "
                   "leave it out",
    **{name: "initializers, regularizers and constraints do not change any size: leave it out"
       for name in ("kernel_initializer", "bias_initializer", "kernel_regularizer",
                    "bias_regularizer", "activity_regularizer", "kernel_constraint",
                    "bias_constraint")},
}


def type_hint(written: str, args: Mapping[str, Any] | None = None) -> str | None:
    """'Keras's Dense is linear with out_features …' for a Keras class name, else None; the
    example uses the layer's own `units` where it has them."""
    known = TYPES.get(written.lower())
    if known is None:
        return None
    spelling, here = known
    units = (args or {}).get("units")
    if isinstance(units, int) and not isinstance(units, bool):
        here = here.replace("out_features: 120}", f"out_features: {units}}}")
    return f"Keras's {spelling} is {here}"


def argument_hint(args: Mapping[str, Any], valid: Sequence[str]) -> tuple[str, str] | None:
    """(the first Keras argument that is not valid here, a hint naming every one of them and
    cnnsize's names for them), or None where there is none."""
    found = [key for key in args if key not in valid and (key in ARGS or key in OTHERS)]
    if not found:
        return None
    parts = []
    for key in found:
        if key in ARGS and ARGS[key] in valid:
            parts.append(f"Keras's {key} is {ARGS[key]}")
        elif key in OTHERS:
            parts.append(f"{key}: {OTHERS[key]}")
    if not parts:
        return None
    first = next(k for k in found if (k in ARGS and ARGS[k] in valid) or k in OTHERS)
    head = f"did you mean {ARGS[first]!r}? " if first in ARGS else ""
    return first, head + "; ".join(parts) + " (cnnsize's arguments are PyTorch's)"


def padding_hint(value: Any) -> str | None:
    """Keras's padding='same'/'valid' on a layer whose padding is a number (a pool)."""
    if value == "valid":
        return "Keras's padding='valid' is padding: 0"
    if value == "same":
        return ("Keras's padding='same' (an output of ceil(W/S)) is no argument of a PyTorch "
                "pool: with kernel_size equal to stride, ceil_mode: true gives that size")
    return None


__all__ = ["argument_hint", "padding_hint", "type_hint"]
