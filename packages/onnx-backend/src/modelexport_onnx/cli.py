"""``modelexport export onnx``: registered through the ``modelexport.exporters`` entry point.

Importing this module is cheap; the export machinery is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .options import DEFAULT_EXPORTER, DTYPES, EXPORTERS, OPTIMIZATION_LEVELS


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def register(exporters: Any) -> None:
    """Add the ``onnx`` sub-command to ``modelexport export``."""
    parser = exporters.add_parser(
        "onnx",
        help="export to ONNX and validate the result with onnxruntime",
        description="Export a transformers model to ONNX, validate it against the framework's own outputs "
        "with onnxruntime (failing beyond --atol), and write model.onnx, config.json and the "
        "tokenizer/preprocessor files to OUTPUT_DIR.",
    )
    parser.add_argument(
        "output", metavar="OUTPUT_DIR", help="directory to write (refused if not empty, unless --overwrite)"
    )
    parser.add_argument("--model", "-m", required=True, help="local model directory or Hugging Face Hub id")
    parser.add_argument("--task", default="auto", help="task to export (default: inferred from the model)")
    parser.add_argument("--framework", help="framework to load the model with (pt, tf; default: detected)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the architecture's, 18 with dynamo)")
    parser.add_argument(
        "--atol",
        type=float,
        help="validation tolerance, max absolute difference (default: the architecture's, 1e-5)",
    )
    parser.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default=DEFAULT_EXPORTER,
        help=f"converter: torchscript or dynamo for PyTorch, tf2onnx for TensorFlow (default: {DEFAULT_EXPORTER})",
    )
    parser.add_argument(
        "--no-dynamic-axes",
        dest="dynamic_axes",
        action="store_false",
        help="freeze every dimension to the dummy input's size",
    )
    parser.add_argument("--batch-size", type=_positive, help="batch size of the traced dummy input (default 2)")
    parser.add_argument(
        "--sequence-length", type=_positive, help="sequence length of the traced dummy input (default 16)"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="fp32", help="weights and activations type")
    parser.add_argument(
        "--optimize", choices=OPTIMIZATION_LEVELS, help="onnxruntime graph optimization level applied before validation"
    )
    parser.add_argument("--report", metavar="REPORT.json", help="write the validation report as JSON")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the exported files in an existing OUTPUT_DIR (other files are kept)",
    )
    parser.add_argument("--cache-dir", help="Hugging Face cache directory")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow the model's own Python code")
    parser.add_argument(
        "--no-generation-check",
        dest="generation_check",
        action="store_false",
        help="skip the greedy-generation check of -with-past exports (onnxruntime vs the framework)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .main_export import main_export

    result = main_export(
        args.model,
        args.output,
        args.task,
        framework=args.framework,
        opset=args.opset,
        atol=args.atol,
        exporter=args.exporter,
        dynamic_axes=args.dynamic_axes,
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
        dtype=args.dtype,
        optimize=args.optimize,
        report=args.report,
        overwrite=args.overwrite,
        cache_dir=args.cache_dir,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        generation_check=args.generation_check,
        progress=lambda line: print(line, flush=True),
    )
    if args.json:
        print(
            json.dumps(
                {
                    "output_dir": str(result.output_dir),
                    "files": result.files,
                    "task": result.task,
                    "framework": result.framework,
                    "validation": result.validation.to_dict(),
                    "timings": result.timings,
                },
                indent=2,
            )
        )
    else:
        print(f"Exported {result.model_type} ({result.task}) to {result.output_dir}: {', '.join(result.files)}")
        print(
            f"max abs diff vs {result.framework}: {result.validation.max_abs_diff:.2e} "
            f"(atol {result.validation.atol:g}), {result.timings['total']:.1f} s"
        )
    sys.stdout.flush()
    return 0
