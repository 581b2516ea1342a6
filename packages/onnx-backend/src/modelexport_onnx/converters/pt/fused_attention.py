"""Decoder attention traced as onnxruntime's ``GroupQueryAttention`` (``--optimize O2/O3`` on a decoder with its cache).

Why here and not as a graph rewrite: onnxruntime's transformer optimizer has no pattern that turns a traced
decoder's attention (a cache concatenation, repeated key/value heads, a causal and padding mask built from
the inputs, a softmax) into one operator; each family's graph differs in the details. transformers itself calls
every family's attention through one interface (``ALL_ATTENTION_FUNCTIONS``) with the query, the new keys and
values, the scale and, where the family has them, its sliding window and logit softcap. Registering one more
implementation there, traced instead of SDPA, gives one ``GroupQueryAttention`` node per layer for every family
that calls the interface, with the family's own projections, norms and rotary embedding around it.

What changes during the trace (and is undone after):
- the cache handed to the model returns the new keys and values unconcatenated: the operator concatenates them
  with the past and returns the present cache;
- the family's module-level ``apply_rotary_pos_emb`` defers the rotation to the operator (``do_rotary``, with the
  cosine and sine of every position up to the model's context written as tables), when the family's function is
  the standard rotation (half-split or interleaved, checked numerically) and its rotary module's angles depend on
  the position alone; otherwise the rotation stays in the graph as traced;
- no attention mask is built (the operator reads the valid lengths, ``seqlens_k``, from ``attention_mask``).

The operator's semantics are onnxruntime's: a batch is unpadded or right-padded (the valid tokens of a row come
first), as onnxruntime-genai feeds it; with a cache, a step of more than one token needs a batch of one. The
export validates the fused graph on such inputs, and a dry run of the fused path in PyTorch, compared with the
model's own attention, decides before tracing whether the family fuses at all (why not, otherwise).
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

#: The name transformers' attention interface knows the fused path by (set as the configs' implementation).
IMPLEMENTATION = "modelexport_group_query_attention"
#: The custom operator the trace records; its ONNX translation is onnxruntime's contrib operator.
OPERATOR = "modelexport::group_query_attention"
#: The longest rotary table written into a graph (2 x positions x rotary_dim / 2 floats): 64 MB at a head of 128.
MAX_ROTARY_POSITIONS = 131072
#: onnxruntime's CPU kernel computes heads whose size is a multiple of this.
HEAD_SIZE_MULTIPLE = 16
#: onnxruntime's kernel reads rotary tables whose width (half the rotated features) is a multiple of this: a narrower
#: partial rotation (phi, stablelm, gpt-neox at small sizes) stays in the graph as traced.
ROTARY_TABLE_MULTIPLE = 8
#: Rotary types whose angles depend on the sequence's length as well as the position: no fixed table holds them.
LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


class NotFusable(Exception):
    """A layer whose attention ``GroupQueryAttention`` cannot express (the message says why)."""


def _rotate_half(x: torch.Tensor, interleaved: bool) -> torch.Tensor:
    if interleaved:
        return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` features of ``x`` (batch, heads, sequence, head) by per-position angles."""
    width = cos.shape[-1]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    rotated = x[..., :width] * cos + _rotate_half(x[..., :width], interleaved) * sin
    return torch.cat((rotated, x[..., width:]), dim=-1) if width < x.shape[-1] else rotated


@torch.library.custom_op(OPERATOR, mutates_args=())  # type: ignore[untyped-decorator]
def group_query_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    past_key: torch.Tensor,
    past_value: torch.Tensor,
    seqlens_k: torch.Tensor,
    total_length: torch.Tensor,
    attention_mask: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    cos_table: torch.Tensor,
    sin_table: torch.Tensor,
    num_heads: int,
    kv_heads: int,
    scale: float,
    window: int,
    softcap: float,
    rotary: int,
    interleaved: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the ONNX operator computes, in PyTorch (the traced run and the dry run): causal attention of the
    query (batch, sequence, heads x head) over the past and new keys, masked by ``attention_mask`` and the window.

    ``cos``/``sin`` (batch, sequence, rotary width): the angles the model computed, applied when ``rotary``; the
    tables (position, rotary width / 2) are what the graph's operator reads instead.
    """
    batch, length, _ = query.shape
    head = past_key.shape[-1]
    q = query.view(batch, length, num_heads, head).transpose(1, 2)
    k = key.view(batch, length, kv_heads, head).transpose(1, 2)
    v = value.view(batch, length, kv_heads, head).transpose(1, 2)
    if rotary:
        q, k = _rotate(q, cos, sin, bool(interleaved)), _rotate(k, cos, sin, bool(interleaved))
    keys, values = torch.cat((past_key, k), dim=2), torch.cat((past_value, v), dim=2)
    total = keys.shape[2]
    repeat = num_heads // kv_heads
    scores = q @ keys.repeat_interleave(repeat, dim=1).transpose(-1, -2) * scale
    if softcap > 0:
        scores = torch.tanh(scores / softcap) * softcap
    query_positions = torch.arange(length).view(length, 1) + (total - length)
    key_positions = torch.arange(total).view(1, total)
    allowed = key_positions <= query_positions
    if window > 0:
        allowed = allowed & (key_positions > query_positions - window)
    allowed = allowed[None, None] & attention_mask[:, None, None, :].bool()
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1) @ values.repeat_interleave(repeat, dim=1)
    return weights.transpose(1, 2).reshape(batch, length, num_heads * head), keys, values


def _symbolic(g: Any, *values: Any) -> Any:
    """onnxruntime's ``com.microsoft::GroupQueryAttention`` with the operator's sizes as attributes."""
    from torch.onnx._internal.torchscript_exporter import symbolic_helper

    query, key, value, past_key, past_value, seqlens_k, total_length = values[:7]
    cos_table, sin_table = values[10:12]
    sizes = [symbolic_helper._maybe_get_const(v, kind) for v, kind in zip(values[12:], "iififii", strict=True)]
    num_heads, kv_heads, scale, window, softcap, rotary, interleaved = sizes
    attributes: dict[str, Any] = {"num_heads_i": num_heads, "kv_num_heads_i": kv_heads, "scale_f": scale}
    inputs = [query, key, value, past_key, past_value, seqlens_k, total_length]
    if rotary:
        inputs += [cos_table, sin_table]
        attributes.update(do_rotary_i=1, rotary_interleaved_i=int(interleaved))
    if window > 0:
        attributes["local_window_size_i"] = int(window)  # both count the keys a query sees, itself included
    if softcap > 0:
        attributes["softcap_f"] = softcap
    output, present_key, present_value = g.op("com.microsoft::GroupQueryAttention", *inputs, outputs=3, **attributes)
    # Types without sizes (the sequence axes are dynamic): torch.onnx has no shape inference for the operator.
    output.setType(query.type().with_sizes([None, None, None]))
    present_key.setType(past_key.type().with_sizes([None, None, None, None]))
    present_value.setType(past_value.type().with_sizes([None, None, None, None]))
    return output, present_key, present_value


_registered = False


def register_symbolic() -> None:
    """Register the operator's ONNX translation with ``torch.onnx`` (once per process)."""
    global _registered
    if not _registered:
        torch.onnx.register_custom_op_symbolic(OPERATOR, _symbolic, 1)
        _registered = True


@dataclass
class RotaryTable:
    """One rotary module's angles for every position: what the operator reads at a position it computes itself."""

    #: The angle of each rotated pair at each position (positions, rotary width / 2).
    cos: torch.Tensor
    sin: torch.Tensor
    #: A module's table: how it lays the angles out (each repeated in place, or the set twice). A layer's pending
    #: rotation: how the operator rotates (interleaved pairs or halves); they differ for glm and helium.
    interleaved: bool

    @property
    def width(self) -> int:
        return 2 * int(self.cos.shape[-1])


@dataclass
class FusionState:
    """What the fused path of one forward reads (the cache, the valid lengths) and writes (the present cache)."""

    past: list[tuple[torch.Tensor, torch.Tensor]]
    attention_mask: torch.Tensor
    tables: dict[int, tuple[torch.Tensor, RotaryTable]]
    seqlens_k: torch.Tensor = field(init=False)
    total_length: torch.Tensor = field(init=False)
    presents: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    pending_rotary: tuple[torch.Tensor, torch.Tensor, RotaryTable] | None = None
    rotary_layers: int = 0
    #: Rotations the family's own function computed (in the graph, before the operator).
    traced_rotations: int = 0

    def __post_init__(self) -> None:
        mask = self.attention_mask
        self.seqlens_k = (mask.sum(dim=-1) - 1).to(torch.int32)
        # The mask's width as a traced scalar (a shape read, not a constant frozen at the traced size)
        self.total_length = torch.ones_like(mask[0]).sum().to(torch.int32)


@dataclass
class _Active:
    state: FusionState | None = None
    tables: dict[int, tuple[torch.Tensor, RotaryTable]] = field(default_factory=dict)


_ACTIVE: _Active | None = None


def active() -> _Active | None:
    """The fused path's context while a fused trace or dry run is under way (``None`` otherwise)."""
    return _ACTIVE


def fused_cache(past: list[torch.Tensor], attention_mask: torch.Tensor) -> Any:
    """The cache a fused forward hands to the model: it returns new keys and values as they come (the operator
    concatenates them with the past); the forward's state is set for the attention calls to read."""
    from transformers import DynamicCache

    context = _ACTIVE
    assert context is not None, "fused_cache() inside fused_path() only"
    pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
    context.tables.clear()  # the rotary modules of this forward register theirs again
    context.state = FusionState(pairs, attention_mask, context.tables)

    class PassThroughCache(DynamicCache):  # type: ignore[misc]
        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return key_states, value_states

    return PassThroughCache(ddp_cache_data=pairs)


def presents() -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """The present keys and values the attention calls of the last fused forward returned, by layer."""
    assert _ACTIVE is not None and _ACTIVE.state is not None
    return _ACTIVE.state.presents


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention interface, answered by the operator (query, key, value: batch, heads, sequence, head)."""
    context = _ACTIVE
    if context is None or context.state is None:
        raise NotFusable("the model called attention outside the fused forward")
    state = context.state
    layer = getattr(module, "layer_idx", None)
    batch, heads, length, head = query.shape
    kv_heads = key.shape[1]
    if kwargs.get("s_aux") is not None or getattr(module, "sinks", None) is not None:
        raise NotFusable("attention sinks (GroupQueryAttention has no sink logits here)")
    if not getattr(module, "is_causal", True):
        raise NotFusable("bidirectional attention")
    if not isinstance(layer, int) or not 0 <= layer < len(state.past):
        raise NotFusable(f"an attention module without a cache layer index ({layer!r})")
    if key.shape[-1] != head or value.shape[-1] != head:
        raise NotFusable(
            f"keys or values of another width than the queries ({key.shape[-1]}, {value.shape[-1]}, {head})"
        )
    if head % HEAD_SIZE_MULTIPLE:
        raise NotFusable(f"heads of {head}: onnxruntime's GroupQueryAttention takes multiples of {HEAD_SIZE_MULTIPLE}")
    if heads % kv_heads:
        raise NotFusable(f"{heads} query heads over {kv_heads} key/value heads")
    if kwargs.get("attention_bias") is not None or kwargs.get("alibi") is not None:
        raise NotFusable("an additive attention bias (ALiBi)")
    past_key, past_value = state.past[layer]
    if tuple(past_key.shape[1:2]) != (kv_heads,) or past_key.shape[-1] != head:
        raise NotFusable(f"a cache of shape {tuple(past_key.shape)} for {kv_heads} heads of {head}")
    window = kwargs.get("sliding_window") or 0
    softcap = kwargs.get("softcap") or 0.0
    if window and softcap:
        # onnxruntime 1.32's CPU kernel masks the window before it caps the logits (tanh(-inf) is -1, not -inf):
        # a prompt longer than the window attends outside it (gemma2 validated 0.2 off on its logits)
        raise NotFusable("a sliding window with a logit softcap, which onnxruntime's kernel computes differently")
    scale = float(scaling) if scaling is not None else 1.0 / math.sqrt(head)
    pending, state.pending_rotary = state.pending_rotary, None
    empty = query.new_zeros((0,))
    cos, sin, table = pending if pending is not None else (empty, empty, None)
    if table is not None:
        state.rotary_layers += 1
    output, present_key, present_value = group_query_attention(
        query.transpose(1, 2).reshape(batch, length, heads * head),
        key.transpose(1, 2).reshape(batch, length, kv_heads * head),
        value.transpose(1, 2).reshape(batch, length, kv_heads * head),
        past_key,
        past_value,
        state.seqlens_k,
        state.total_length,
        state.attention_mask,
        cos,
        sin,
        table.cos if table is not None else empty,
        table.sin if table is not None else empty,
        heads,
        kv_heads,
        scale,
        int(window),
        float(softcap),
        int(table is not None),
        int(table.interleaved if table is not None else 0),
    )
    state.presents[layer] = (present_key, present_value)
    return output.view(batch, length, heads, head), None


def _laid_out(angles: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """Per-pair angles (..., rotary width / 2) as a rotary module hands them out: each repeated in place
    (interleaved) or the whole set twice (half-split)."""
    return angles.repeat_interleave(2, -1) if interleaved else torch.cat((angles, angles), -1)


def _pairs(angles: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """The per-pair angles of a rotary module's output laid out interleaved or half-split (the inverse of
    :func:`_laid_out`)."""
    return angles[..., 0::2] if interleaved else angles[..., : angles.shape[-1] // 2]


def _rotation_style(function: Callable[..., Any], layout: bool) -> bool | None:
    """Which standard rotation ``function`` (a family's ``apply_rotary_pos_emb``) computes from angles laid out as
    ``layout`` (interleaved or not) gives: interleaved pairs (True) or half-split (False); ``None``: neither, or
    another signature. (glm and helium take half-split angles and rotate interleaved pairs.)"""
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 2, 3, 8, generator=generator), torch.randn(1, 1, 3, 8, generator=generator)
    angles = torch.randn(1, 3, 4, generator=generator)
    try:
        got_q, got_k = function(q, k, _laid_out(angles.cos(), layout), _laid_out(angles.sin(), layout))
    except Exception:
        return None
    for interleaved in (layout, not layout):
        cos, sin = _laid_out(angles.cos(), interleaved), _laid_out(angles.sin(), interleaved)
        want_q, want_k = _rotate(q, cos, sin, interleaved), _rotate(k, cos, sin, interleaved)
        if torch.allclose(got_q, want_q, atol=1e-6) and torch.allclose(got_k, want_k, atol=1e-6):
            return interleaved
    return None


def _deferred_rotation(original: Callable[..., Any]) -> Callable[..., Any] | None:
    """``apply_rotary_pos_emb`` that leaves the rotation to the operator when the angles come from a tabled rotary
    module, the call is the plain one and the family's rotation is a standard one; otherwise the family's own
    function runs."""
    # decided before any trace (a trial run inside one would record its operations)
    styles = {layout: _rotation_style(original, layout) for layout in (False, True)}
    if all(style is None for style in styles.values()):
        return None  # not a rotation this path knows (another signature, another formula): left alone

    def rotation(*args: Any, **kwargs: Any) -> Any:
        if len(args) < 4 or any(not isinstance(a, torch.Tensor) for a in args[:4]):  # another signature: its own
            return original(*args, **kwargs)
        q, k, cos, sin = args[:4]
        args = args[4:]
        context = _ACTIVE
        plain = all(a is None for a in args) and kwargs.get("unsqueeze_dim", 1) == 1
        plain = plain and all(v is None for n, v in kwargs.items() if n != "unsqueeze_dim")
        known = context.tables.get(id(cos)) if context is not None else None
        state = context.state if context is not None else None
        table = known[1] if known is not None and known[0] is cos else None
        style = styles[table.interleaved] if table is not None else None
        if (
            state is None
            or table is None
            or style is None
            or not plain
            or cos.dim() != 3
            or cos.shape[-1] != table.width
            or (cos.shape[-1] // 2) % ROTARY_TABLE_MULTIPLE
            or q.shape[-1] < cos.shape[-1]
            or q.shape[-1] != k.shape[-1]
        ):
            if state is not None:
                state.traced_rotations += 1
            return original(q, k, cos, sin, *args, **kwargs)
        if style != table.interleaved:  # the operator's reference reads angles laid out as it rotates
            cos, sin = (
                _laid_out(_pairs(cos, table.interleaved), style),
                _laid_out(_pairs(sin, table.interleaved), style),
            )
        state.pending_rotary = (cos, sin, RotaryTable(table.cos, table.sin, style))
        return q, k

    return rotation


def _rotary_tables(module: torch.nn.Module, positions: int) -> dict[str | None, RotaryTable]:
    """The angles of every position from ``module`` (a transformers rotary embedding), by layer type where it
    computes one set per type (gemma3: local and global layers); none where they depend on more than the
    position or are not laid out as one of the two standard rotations."""
    layer_types = getattr(module, "layer_types", None)
    keys: list[str | None] = list(layer_types) if isinstance(layer_types, (list, tuple)) and layer_types else [None]
    rope_types = getattr(module, "rope_type", "default")
    tables: dict[str | None, RotaryTable] = {}
    for key in keys:
        rope_type = rope_types.get(key, "default") if isinstance(rope_types, dict) else rope_types
        frequencies = getattr(module, "inv_freq" if key is None else f"{key}_inv_freq", None)
        if rope_type in LENGTH_DEPENDENT_ROPE or not isinstance(frequencies, torch.Tensor):
            continue
        table = _rotary_table(module, positions, () if key is None else (key,))
        if table is not None:
            tables[key] = table
    return tables


def _rotary_table(module: torch.nn.Module, positions: int, extra: tuple[Any, ...]) -> RotaryTable | None:
    try:
        with torch.no_grad():
            cos, sin = module(torch.zeros(1, 1, dtype=torch.float32), torch.arange(positions).unsqueeze(0), *extra)
    except Exception:
        return None
    if not isinstance(cos, torch.Tensor) or cos.dim() != 3 or cos.shape[-1] % 2:
        return None
    cos, sin = cos[0].float(), sin[0].float()
    half = cos.shape[-1] // 2
    if torch.equal(cos[:, :half], cos[:, half:]) and torch.equal(sin[:, :half], sin[:, half:]):
        return RotaryTable(cos[:, :half].contiguous(), sin[:, :half].contiguous(), interleaved=False)
    if torch.equal(cos[:, 0::2], cos[:, 1::2]) and torch.equal(sin[:, 0::2], sin[:, 1::2]):
        return RotaryTable(cos[:, 0::2].contiguous(), sin[:, 0::2].contiguous(), interleaved=True)
    return None


def _context_length(model: torch.nn.Module) -> int:
    config: Any = getattr(model, "config", None)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    positions = getattr(text, "max_position_embeddings", None)
    return min(int(positions), MAX_ROTARY_POSITIONS) if isinstance(positions, int) and positions > 0 else 4096


@contextlib.contextmanager
def fused_path(model: torch.nn.Module) -> Iterator[_Active]:
    """Inside the block, ``model``'s attention runs (and traces) as the operator; everything is restored on exit."""
    global _ACTIVE
    from transformers import AttentionInterface, PreTrainedModel

    AttentionInterface.register(IMPLEMENTATION, _attention)
    context = _Active()
    configs = {
        id(m.config): m.config
        for m in model.modules()
        if isinstance(m, PreTrainedModel) and hasattr(m.config, "_attn_implementation_internal")
    }
    saved_configs = {key: config._attn_implementation_internal for key, config in configs.items()}
    hooks = []
    patched: list[tuple[Any, Callable[..., Any]]] = []
    positions = _context_length(model)
    for module in model.modules():
        if type(module).__name__.endswith("RotaryEmbedding"):
            tables = _rotary_tables(module, positions)
            if tables:

                def remember(
                    _: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any, tables: Any = tables
                ) -> None:
                    key = kwargs.get("layer_type", args[2] if len(args) > 2 else None)
                    table = tables.get(key) if isinstance(key, (str, type(None))) else None
                    if table is not None and isinstance(output, tuple) and isinstance(output[0], torch.Tensor):
                        context.tables[id(output[0])] = (output[0], table)

                hooks.append(module.register_forward_hook(remember, with_kwargs=True))
        namespace = importlib.import_module(type(module).__module__)
        original = getattr(namespace, "apply_rotary_pos_emb", None)
        if callable(original) and all(namespace is not n for n, _ in patched):
            deferred = _deferred_rotation(original)
            if deferred is not None:
                patched.append((namespace, original))
                namespace.apply_rotary_pos_emb = deferred  # type: ignore[attr-defined]
    for config in configs.values():
        config._attn_implementation_internal = IMPLEMENTATION
    _ACTIVE = context
    try:
        yield context
    finally:
        _ACTIVE = None
        for key, config in configs.items():
            config._attn_implementation_internal = saved_configs[key]
        for hook in hooks:
            hook.remove()
        for namespace, original in patched:
            namespace.apply_rotary_pos_emb = original


@dataclass(frozen=True)
class Verdict:
    """Whether a model's attention fuses, found by running the fused path against the model's own in PyTorch."""

    refusal: str | None
    layers: int = 0
    rotary_layers: int = 0
    traced_rotations: int = 0

    def describe(self) -> str:
        if self.refusal is not None:
            return f"attention not fused ({self.refusal}): the plain graph"
        parts = []
        if self.rotary_layers:
            inside = "" if self.rotary_layers == self.layers else f" in {self.rotary_layers} of them"
            parts.append(f"rotary inside{inside}")
        if self.traced_rotations:
            parts.append("rotary as traced" + ("" if not self.rotary_layers else " in the others"))
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"attention fused: {self.layers} GroupQueryAttention{detail}"


#: How far the fused path may differ from the model's attention in the dry run (float32, same inputs), relative to
#: the largest magnitude of the output: summation order only.
DRY_RUN_TOLERANCE = 1e-3


def verdict(model: torch.nn.Module, wrapper: torch.nn.Module, outputs: list[str], args: tuple[Any, ...]) -> Verdict:
    """Run ``wrapper`` (the export module of ``model``, returning ``outputs``) on ``args`` plainly and fused; the
    fused path is kept only where every layer went through it and every output agrees (a family whose code around
    the attention call the fused path does not preserve is refused here, before tracing, rather than failing
    validation). The caller keeps the model's training flags."""
    with torch.no_grad():
        plain = wrapper(*args)
        try:
            with fused_path(model) as context:
                fused = wrapper(*args)
                state = context.state
                rotary_layers = state.rotary_layers if state is not None else 0
                traced_rotations = state.traced_rotations if state is not None else 0
        except NotFusable as exc:
            return Verdict(str(exc))
        except KeyError as exc:
            return Verdict(f"layer {exc} does not call transformers' attention interface")
        except Exception as exc:
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return Verdict(f"the fused path failed in PyTorch: {type(exc).__name__}: {message}")
    for name, want, got in zip(outputs, plain, fused, strict=True):
        if want.shape != got.shape:
            return Verdict(f"{name} has shape {tuple(got.shape)} fused, {tuple(want.shape)} plain")
        scale = float(want.abs().max()) if want.numel() else 0.0
        difference = float((want - got).abs().max()) if want.numel() else 0.0
        if not difference <= DRY_RUN_TOLERANCE * max(scale, 1.0):
            return Verdict(f"the fused path differs from the model's attention on {name} by {difference:.3g}")
    layers = sum(1 for name in outputs if name.startswith("present.") and name.endswith(".key"))
    return Verdict(None, layers, rotary_layers, traced_rotations)
