"""A third-party framework plugin, written from scratch against the FrameworkPlugin protocol."""

from __future__ import annotations

from typing import Any


class ToyModel:
    @classmethod
    def from_pretrained(cls, path: str, **kwargs: Any) -> tuple[str, str]:
        return (cls.__name__, path)


class ToyModelForMaskedLM(ToyModel):
    pass


class ToyFramework:
    name = "toy"
    display_name = "Toy"
    distribution = "modelexport-toy"
    priority = 5
    weight_files = ("toy_model.bin",)

    def autoclass_table(self) -> dict[str, str]:
        return {"default": "ToyModel", "masked-lm": "ToyModelForMaskedLM"}

    def is_available(self) -> bool:
        return True

    def missing_requirements(self) -> list[str]:
        return []

    def resolve_class(self, names: str | tuple[str, ...]) -> type:
        return {"ToyModel": ToyModel, "ToyModelForMaskedLM": ToyModelForMaskedLM}[names]  # type: ignore[index]

    def load_model(self, model_class: type, model: str, **kwargs: Any) -> Any:
        return model_class.from_pretrained(model, **kwargs)  # type: ignore[attr-defined]

    def generate(self, model: Any, inputs: dict[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
        return [[pad_token_id] * max_new_tokens]

    def owns_model(self, model: Any) -> bool:
        return isinstance(model, ToyModel)


framework = ToyFramework()
