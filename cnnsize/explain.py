"""The `--explain` lines of one row: its kind's formulas, then every quantity that the
conventions derive from them, each with its numbers filled in (pure; analyze.py calls it).

A kind states its raw per-example costs (output sizes, units, weights, biases, connections,
MACs) and, on a line `FLOPs = …`, its per-element FLOPs (`Cost.elementwise_flops`). What the
table shows depends on the conventions, so that line is shown as `per-element FLOPs = …` and
this module adds, in one place:

    params      = weights + biases
    FLOPs       = batch·(flops_per_mac·MACs + per-element FLOPs + bias adds)
    memory      = units·bytes/element·batch            (0 where it shares its input's storage)
    r_out       = r_in + (F − 1)·D·j_in,  j_out = j_in·S   (Araujo et al., Distill 2019)

For every quantity the last line that states it ends in `= N`, N being the table's value;
tests/test_explain.py parses every line of every zoo network to hold that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from .conventions import Conventions
from .layers.base import SPATIAL_SYMBOLS, Cost, Mixes, Window

Number = int | Fraction
Pair = tuple[tuple[Number, ...], tuple[Number, ...]]
Field = tuple[Pair, ...] | None
Summary = tuple[tuple[int, ...] | None, tuple[Number, ...] | None]  # (field, jump) of a row


def kind_lines(cost: Cost) -> tuple[str, ...]:
    """The kind's own lines, its per-element FLOPs line named as such."""
    return tuple(f"per-element {line}" if line.startswith("FLOPs =") else line
                 for line in cost.explain)


def row_lines(cost: Cost, conv: Conventions, *, inputs: Sequence[str], shares: str | None,
              stored: bool, in_fields: Sequence[Field], field: Field,
              summarize: Callable[[Field], Summary], field_note: str | None = None
              ) -> tuple[str, ...]:
    """Every line of a row: the kind's formulas, then params, FLOPs, memory and the field
    (`summarize`: a field's (size, jump) as the table shows them; `field_note`: the row's note
    on its field, if it has one)."""
    if not cost.counted:  # an op without formulas (opaque): what is known; the rest is not counted
        return cost.explain
    if shares is None:
        counts, memory = _counts(cost, conv)
    else:
        counts = ((f"calls the module of {shares} again: the weights and biases below are "
                   "counted there",) if cost.weights + cost.biases else ()) + (
            *kind_lines(cost), *_param_lines(cost, conv, shares), *_connection_lines(cost, conv),
            *_flops_lines(cost, conv))
        memory = _memory_line(cost, conv, inputs, True)
    if not stored:
        memory = _memory_line(cost, conv, inputs, stored)
    key: tuple[object, ...] | None = (cost.rf, tuple(in_fields), field, field_note, len(inputs))
    try:
        lines = _FIELDS.get(key) if key is not None else None
    except TypeError:  # an effect that cannot be hashed
        lines, key = None, None
    if lines is None:
        lines = tuple(_field_lines(cost, inputs, in_fields, field,
                                   [summarize(f) for f in in_fields], summarize(field),
                                   field_note))
        if key is not None:
            if len(_FIELDS) >= _COUNTS_MAX:
                _FIELDS.clear()
            _FIELDS[key] = lines
    return (*counts, memory, *lines)


# The lines that depend on a cost and the conventions only, for each distinct cost (a network
# repeats its layers: ResNet-152 has 515 rows and 33 different ones), with the cost itself so
# that its id stays its own.
_COUNTS: dict[tuple[int, Conventions], tuple[Cost, tuple[str, ...], str]] = {}
_COUNTS_MAX = 8192
# The field lines, by what they are made of: the same network analysed again (check tries
# other conventions) finds them here.
_FIELDS: dict[tuple[object, ...], tuple[str, ...]] = {}


def _counts(cost: Cost, conv: Conventions) -> tuple[tuple[str, ...], str]:
    """The kind's lines, params, connections, FLOPs, and memory when stored."""
    key = (id(cost), conv)
    known = _COUNTS.get(key)
    if known is None or known[0] is not cost:
        known = (cost, (*kind_lines(cost), *_param_lines(cost, conv, None),
                        *_connection_lines(cost, conv), *_flops_lines(cost, conv)),
                 _memory_line(cost, conv, (), True))
        if len(_COUNTS) >= _COUNTS_MAX:
            _COUNTS.clear()
        _COUNTS[key] = known
    return known[1], known[2]


def _param_lines(cost: Cost, conv: Conventions, shares: str | None) -> list[str]:
    if not cost.weights + cost.biases:
        return []
    if shares is not None:
        return [f"weights = 0; biases = 0 (counted at {shares})",
                f"params = 0 (its module's {cost.weights + cost.biases:,} are counted at {shares})"]
    out = []
    biases = cost.biases
    if biases and not conv.bias:
        out.append(f"biases = 0 (--no-bias: its {biases:,} are not counted)")
        biases = 0
    out.append(f"params = weights + biases = {cost.weights:,} + {biases:,} = "
               f"{cost.weights + biases:,}")
    return out


def _connection_lines(cost: Cost, conv: Conventions) -> list[str]:
    if not (conv.bias and conv.bias_connections and cost.bias_connections):
        return []
    total = cost.connections + cost.bias_connections
    return [f"connections = connections + bias inputs = {cost.connections:,} + "
            f"{cost.bias_connections:,} = {total:,} (--bias-connections: one per unit)"]


def _flops_lines(cost: Cost, conv: Conventions) -> list[str]:
    """MACs for the batch, and FLOPs as the conventions count them."""
    batch, per_mac = conv.batch, conv.flops_per_mac
    out = []
    if cost.macs and batch > 1:
        out.append(f"MACs = batch·MACs per example = {batch}·{cost.macs:,} = "
                   f"{batch * cost.macs:,}")
    element = cost.elementwise_flops if conv.elementwise_flops else 0
    bias_adds = cost.bias_adds if conv.elementwise_flops and conv.bias else 0
    terms: list[tuple[str, str]] = []
    if cost.macs:
        terms.append(("MACs", f"{cost.macs:,}") if per_mac == 1
                     else (f"{per_mac}·MACs", f"{per_mac}·{cost.macs:,}"))
    if element:
        terms.append(("per-element FLOPs", f"{element:,}"))
    if bias_adds:
        terms.append(("bias adds", f"{bias_adds:,}"))
    total = batch * (per_mac * cost.macs + element + bias_adds)
    why = ""
    if not conv.elementwise_flops and (cost.elementwise_flops or cost.bias_adds):
        why = " (per-element FLOPs not counted: --no-elementwise-flops)"
    elif not conv.bias and cost.bias_adds:
        why = " (bias adds not counted: --no-bias)"
    if not terms:
        out.append(f"FLOPs = 0{why or ' (no arithmetic)'}")
        return out
    symbols = " + ".join(s for s, _ in terms)
    numbers = " + ".join(n for _, n in terms)
    if batch > 1:
        symbols = f"batch·({symbols})" if len(terms) > 1 else f"batch·{symbols}"
        numbers = f"{batch}·({numbers})" if len(terms) > 1 else f"{batch}·{numbers}"
    steps = [symbols] + ([numbers] if numbers != f"{total:,}" else [])
    out.append(f"FLOPs = {' = '.join(steps)} = {total:,}{why}")
    return out


def _memory_line(cost: Cost, conv: Conventions, inputs: Sequence[str], stored: bool) -> str:
    size, batch = conv.bytes_per_element, conv.batch
    if stored:
        return (f"memory = units·bytes/element·batch = {cost.units:,}·{size}·{batch} = "
                f"{cost.units * size * batch:,} B")
    source = inputs[0] if inputs else "its input"
    if cost.storage == "view":
        why = f"a view of {source}: no new storage"
    elif cost.storage == "eval_noop":
        why = f"at inference it passes {source} through: no new storage"
    elif cost.storage == "inplace":
        why = f"written into its first input, {source}"
    elif cost.storage == "activation":
        why = (f"inplace=true: it runs in {source}'s storage" if conv.inplace_activations == "spec"
               else f"it can run in place, in {source}'s storage: --inplace all")
    else:  # a reshape or contiguous that the strides let be a view
        why = f"a view of {source}: its strides allow it, no new storage"
    return f"memory = 0 B ({why})"


# ---------------------------------------------------------------- receptive field


def _text(x: Number) -> str:
    return str(x) if isinstance(x, int) or x.denominator != 1 else str(x.numerator)


def _rounded(x: Number) -> str:
    """A field size as computed, and as the table shows it (rounded up) where not whole."""
    whole = x if isinstance(x, int) else math.ceil(x)
    return f"{_text(x)}" if whole == x else f"{_text(x)} → {whole}"


def _dims(n: int) -> tuple[str, ...]:
    return SPATIAL_SYMBOLS.get(n, tuple(f"dim {d + 1}" for d in range(n)))


def _per_dim(name: str, values: Sequence[str]) -> list[str]:
    """'name = v' once where every dim agrees, else 'name H = v_H', 'name W = v_W'."""
    if len(set(values)) <= 1:
        return [f"{name} = {values[0]}"] if values else []
    return [f"{name} {sym} = {v}" for sym, v in zip(_dims(len(values)), values)]


def _shape_text(values: Sequence[Number] | None) -> str:
    if values is None:
        return "global"
    parts = [_text(v) for v in values]
    return parts[0] if len(set(parts)) == 1 else "×".join(parts)


def _field_lines(cost: Cost, inputs: Sequence[str], in_fields: Sequence[Field], field: Field,
                 in_summaries: Sequence[Summary], summary: Summary,
                 note: str | None) -> list[str]:
    rf, jump = summary
    effect = cost.rf
    if field is None:
        if any(f is None for f in in_fields) and effect != "gated":
            why = "its input already sees the whole input"
        elif note is not None:
            why = "not followed past this row: see its note"
        elif isinstance(effect, Mixes):
            why = "each output reads every position of its input"
        else:
            why = "each output reads the whole input"
        return [f"receptive field = global ({why})"]
    if not field[0][0]:
        return ["receptive field: none (no spatial dims)"]
    if isinstance(effect, tuple) and in_fields and in_fields[0] is not None \
            and len(in_fields[0]) == len(field):
        return _window_lines(effect, in_fields[0], field, rf, jump)
    if len(inputs) > 1 and not isinstance(effect, Mixes):
        return _merge_lines(effect, inputs, in_summaries, summary)
    assert rf is not None and jump is not None
    if isinstance(effect, Mixes):
        why = " (the whole input along the axes it reads across)"
    elif len(in_summaries) == 1 and in_summaries[0] == summary:
        why = " (as its input: each output reads one position)"
    else:
        why = ""
    return [f"receptive field = {_shape_text(rf)}; jump = {_shape_text(jump)}{why}"]


def _window_lines(windows: tuple[Window, ...], before: tuple[Pair, ...], after: tuple[Pair, ...],
                  rf: tuple[int, ...] | None, jump: tuple[Number, ...] | None) -> list[str]:
    """r_out = r_in + (F − 1)·D·j_in per dim, for the path with the largest field in that dim;
    j_out = j_in·S for the path whose jump the table shows."""
    fields, jumps = [], []
    dilated = any(w.dilation != 1 for w in windows)
    # A transposed convolution or an upsampling: each output reads k input positions, and
    # the jump divides by the scale (Window.stride = 1/S)
    spread = any(not isinstance(w.stride, int) and w.stride < 1 for w in windows)
    for d, w in enumerate(windows):
        i = max(range(len(after)), key=lambda k: after[k][0][d])
        r_in, j_in = before[i][0][d], before[i][1][d]
        f = (w.kernel - 1) // w.dilation + 1
        step = f"({f} − 1)·{w.dilation}·{_text(j_in)}" if dilated else f"({f} − 1)·{_text(j_in)}"
        fields.append(f"{_text(r_in)} + {step} = {_rounded(after[i][0][d])}")
    best = max(range(len(after)), key=lambda k: (sum(after[k][0]), after[k][1]))
    for d, w in enumerate(windows):
        j_text = _text(before[best][1][d])
        factor = (f"{j_text}/{_text(1 / Fraction(w.stride))}" if spread
                  else f"{j_text}·{_text(w.stride)}")
        jumps.append(f"{factor} = {_text(after[best][1][d])}")
    formula = ("r_in + (k − 1)·j_in" if spread else
               "r_in + (F − 1)·D·j_in" if dilated else "r_in + (F − 1)·j_in")
    many = f" (the largest over {len(after)} paths)" if len(after) > 1 else ""
    if spread:
        many += " (k: the input positions each output reads)"
    lines = [line.replace(" = ", f" = {formula} = ", 1) + many
             for line in _per_dim("receptive field", fields)]
    rule = "j_in/S" if spread else "j_in·S"
    lines += [line.replace(" = ", f" = {rule} = ", 1) for line in _per_dim("jump", jumps)]
    return lines


def _merge_lines(effect: object, inputs: Sequence[str], in_summaries: Sequence[Summary],
                 summary: Summary) -> list[str]:
    """The largest field over the inputs' paths, per dim; the jump of the path that has it."""
    rf, jump = summary
    assert rf is not None and jump is not None
    use = [(name, s) for name, s in zip(inputs, in_summaries)
           if not (effect == "gated" and s[0] is None)]
    fields = []
    for d in range(len(rf)):
        values = [str(s[0][d]) for _, s in use if s[0] is not None]
        fields.append(f"max({', '.join(values)}) = {rf[d]}" if len(values) > 1 else str(rf[d]))
    skipped = " (the global gate only rescales)" if len(use) < len(inputs) else ""
    lines = [line.replace(" = ", " = max over the inputs = ", 1) + skipped
             if "max(" in line else line + skipped
             for line in _per_dim("receptive field", fields)]
    jumps = {s[1] for _, s in use}
    lines.append(f"jump = {_shape_text(jump)}" + (
        " (that of the path with the largest field)" if len(jumps) > 1 else ""))
    return lines


__all__ = ["kind_lines", "row_lines"]
