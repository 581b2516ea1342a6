"""The export-batch manifest: every mistake is one clear error before any model is loaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from modelexport_pipeline.batch.manifest import ManifestError, read_manifest
from modelexport_pipeline.memory import parse_size

from modelexport.cli import main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo.toml"
    path.write_text(text)
    (tmp_path / "bert").mkdir(exist_ok=True)
    return path


def test_defaults_apply_and_paths_are_relative_to_the_manifest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [defaults]
        optimize = "O2"
        opset = 17

        [[models]]
        model = "bert"                 # a folder beside the manifest
        output = "onnx/bert"
        task = "feature-extraction"

        [[models]]
        model = "org/some-model"       # a Hub id
        output = "/abs/gpt2"
        name = "gpt2"
        opset = 18
        dynamic_axes = false
        """,
    )
    first, second = read_manifest(path)
    assert first.model == str(tmp_path / "bert") and first.output == tmp_path / "onnx" / "bert"
    assert first.name == "bert" and first.options == {"optimize": "O2", "opset": 17, "task": "feature-extraction"}
    assert second.model == "org/some-model" and second.output == Path("/abs/gpt2") and second.name == "gpt2"
    assert second.options == {"optimize": "O2", "opset": 18, "dynamic_axes": False}
    request = first.request(overwrite=True, record={"x": 1})
    assert request.output_dir == first.output and request.overwrite and request.options["opset"] == 17


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[models]]\nmodel = 'bert'\noutput = 'a'\nopset = '17'\n", "opset must be an int, not '17'"),
        ("[[models]]\nmodel = 'bert'\noutput = 'a'\ndynamic_axes = 'no'\n", "dynamic_axes must be a bool"),
        ("[[models]]\nmodel = 'bert'\noutput = 'a'\natol = true\n", "atol must be a float or an int"),
        ("[[models]]\nmodel = 'bert'\noutput = 'a'\noptimise = 'O2'\n", "unknown option 'optimise'"),
        ("[defaults]\nmodel = 'bert'\n[[models]]\nmodel = 'bert'\noutput = 'a'\n", "belongs in a [[models]] entry"),
        ("[[models]]\nmodel = 'bert'\n", "output is missing"),
        ("[[models]]\noutput = 'a'\n", "model is missing"),
        ("[[models]]\nmodel = 'bert'\noutput = 's3://bucket/a'\n", "not a URL"),
        ("[model]\nmodel = 'bert'\n", "unknown table(s) model"),
        ("", "lists no models"),
        ("[[models]\n", "is not valid TOML"),
        (
            "[[models]]\nmodel = 'bert'\noutput = 'out'\n[[models]]\nmodel = 'org/gpt2'\noutput = './out'\n",
            "both write",
        ),
        (
            "[[models]]\nmodel = 'bert'\noutput = 'a/x'\n[[models]]\nmodel = 'org/gpt2'\noutput = 'b/x'\n",
            "two models are named 'x'",
        ),
    ],
)
def test_a_wrong_manifest_is_refused_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_manifest(write(tmp_path, text))


def test_the_command_says_it_in_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[[models]]\nmodel = 'bert'\noutput = 'out'\n[[models]]\nmodel = 'x/y'\noutput = 'out'\n")
    assert main(["export-batch", str(path)]) == 2
    err = capsys.readouterr().err
    assert "both write" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "zoo.toml.summary.json").exists()
    assert main(["export-batch", str(tmp_path / "missing.toml")]) == 2
    assert "Cannot read the manifest" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "size"), [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 3 * 2**29), ("100", 100)]
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1G", "0"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_the_command_lines_option_names_are_accepted(tmp_path: Path) -> None:
    """The README says a manifest takes any option of ``export onnx``: its own names too."""
    path = write(
        tmp_path,
        """
        [defaults]
        exporter = "dynamo"
        no-dynamic-axes = true

        [[models]]
        model = "bert"
        output = "a"
        no_generation_check = true

        [[models]]
        model = "bert"
        output = "b"
        converter = "torchscript"       # the entry's own overrides the defaults, by either name
        no_dynamic_axes = false
        """,
    )
    first, second = read_manifest(path)
    assert first.options["converter"] == "dynamo" and first.options["dynamic_axes"] is False
    assert first.options["generation_check"] is False
    assert second.options["converter"] == "torchscript" and second.options["dynamic_axes"] is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("report = 'r.json'\n", "report is not a manifest option: the batch writes one report"),
        ("exporter = 'dynamo'\nconverter = 'dynamo'\n", "exporter and converter are the same option"),
        ("no_dynamic_axes = 'yes'\n", "no_dynamic_axes must be a boolean"),
    ],
)
def test_command_line_names_that_cannot_apply_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, f"[[models]]\nmodel = 'bert'\noutput = 'a'\n{text}")
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_manifest(path)


def test_two_entries_of_one_name_and_output_say_which(tmp_path: Path) -> None:
    path = write(tmp_path, "[[models]]\nmodel = 'bert'\noutput = 'dup'\n[[models]]\nmodel = 'org/x'\noutput = 'dup'\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert "models 'dup' and 'dup'" not in str(caught.value)
    assert "two models named 'dup'" in str(caught.value)
