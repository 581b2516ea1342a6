"""The export config of offline reinforcement-learning models: the Decision Transformer.

A Decision Transformer reads a trajectory, not tokens: per time step a state vector, the action taken and the
return still to come, with the step's index. It interleaves them as three positions per step in a GPT-2
without position embeddings (the time step's embedding stands in) and predicts the next state, action and
return from each step. The task's name and the input and output names are optimum's, so that an export runs
where optimum's does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .config import AxisNames, InputSpec, OnnxConfig

_STEPS = ("batch_size", "sequence_length")
_PER_STEP: AxisNames = {0: "batch_size", 1: "sequence_length"}


class DecisionTransformerOnnxConfig(OnnxConfig):
    """``states``, ``actions``, ``timesteps``, ``returns_to_go`` and ``attention_mask`` of a trajectory in (any
    number of steps); ``state_preds``, ``action_preds``, ``return_preds`` per step and the encoder's states out."""

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("default", "reinforcement-learning")
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    _OUTPUTS: ClassVar[dict[str, AxisNames]] = {
        "state_preds": _PER_STEP,
        "action_preds": _PER_STEP,
        "return_preds": _PER_STEP,
        # three positions per step: its return to go, its state and its action
        "last_hidden_state": {0: "batch_size", 1: "3 * sequence_length"},
    }
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": _OUTPUTS,
        "reinforcement-learning": _OUTPUTS,
    }

    def __init__(self, config: Any, task: str = "reinforcement-learning", **kwargs: Any) -> None:
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return [
            "states: (batch_size, sequence_length, state_dim); actions: (batch_size, sequence_length, act_dim); "
            "timesteps: (batch_size, sequence_length), below max_ep_len; returns_to_go: (batch_size, "
            "sequence_length, 1); last_hidden_state: three positions per step"
        ]

    def input_specs(self) -> list[InputSpec]:
        n = self.normalized
        return [
            InputSpec("states", "float", (*_STEPS, int(n.get("state_dim")))),
            InputSpec("actions", "float", (*_STEPS, int(n.get("act_dim")))),
            InputSpec("timesteps", "timesteps", _STEPS),
            InputSpec("returns_to_go", "float", (*_STEPS, 1)),
            InputSpec("attention_mask", "attention_mask", _STEPS),
        ]
