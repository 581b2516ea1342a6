"""``modelexport export onnx``: registered through the ``modelexport.export_commands`` entry point.

Importing this module is cheap; the export machinery is imported when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from typing import Any

from modelexport_pipeline.arguments import positive, size

from .layout import LAYOUTS
from .options import CONVERTERS, DEFAULT_CONVERTER, DTYPES, OPTIMIZATION_LEVELS, QUANTIZATION_MODES


def _tolerance(text: str) -> float:
    """A finite, non-negative float: ``nan`` would pass every comparison, a negative bound none."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number such as 1e-4, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 such as 1e-4, not {text}")
    return value


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send whatever is written to stdout while the block runs to stderr, from Python or from C/C++.

    With ``--json`` stdout must carry the one JSON document and nothing else, but torch's C++ code
    writes to file descriptor 1 directly (the TorchScript exporter prints whole graphs there), past
    any ``sys.stdout`` redirection: so descriptor 1 itself points at stderr meanwhile.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptors to redirect (an embedding host): Python's own writes only
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush_c_stdio()  # C stdio may still buffer some of it: out to stderr, before descriptor 1 is back
        os.dup2(saved, 1)
        os.close(saved)


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to ask (Windows, static builds)
        pass


def register(export_commands: Any) -> None:
    """Add the ``onnx`` sub-command to ``modelexport export``."""
    parser = export_commands.add_parser(
        "onnx",
        help="export to ONNX and validate the result with onnxruntime",
        description="Export a transformers model to ONNX, validate it against the framework's own outputs "
        "with onnxruntime (failing beyond a bound derived from the model, or --atol), and write model.onnx, "
        "config.json and the tokenizer/preprocessor files to OUTPUT_DIR.",
        epilog="Exit status: 0 exported and validated; 1 the export or its validation failed; 2 bad input "
        "(options, model, paths; checked before the model is loaded); 130 interrupted (Ctrl-C); 143 terminated "
        "(SIGTERM). Nothing is written to OUTPUT_DIR unless the export is validated.",
    )
    parser.add_argument(
        "output", metavar="OUTPUT_DIR", help="directory to write (refused if not empty, unless --overwrite)"
    )
    parser.add_argument("--model", "-m", required=True, help="local model directory or Hugging Face Hub id")
    parser.add_argument("--task", default="auto", help="task to export (default: inferred from the model)")
    parser.add_argument("--framework", help="framework to load the model with (pt, tf; default: detected)")
    parser.add_argument("--opset", type=positive, help="ONNX opset (default: the architecture's, 18 with dynamo)")
    parser.add_argument(
        "--atol",
        type=_tolerance,
        help="validation tolerance, max absolute difference, for every output (default: a bound per output "
        "derived from the model: a multiple of the framework's own float32 error against its float64 run)",
    )
    parser.add_argument(
        "--exporter",
        choices=CONVERTERS,
        default=DEFAULT_CONVERTER,
        help=f"converter: torchscript or dynamo for PyTorch, tf2onnx for TensorFlow (default: {DEFAULT_CONVERTER})",
    )
    parser.add_argument(
        "--no-dynamic-axes",
        dest="dynamic_axes",
        action="store_false",
        help="freeze every dimension to the dummy input's size",
    )
    parser.add_argument("--batch-size", type=positive, help="batch size of the traced dummy input (default 2)")
    parser.add_argument(
        "--sequence-length", type=positive, help="sequence length of the traced dummy input (default 16)"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="fp32", help="weights and activations type")
    parser.add_argument(
        "--optimize", choices=OPTIMIZATION_LEVELS, help="onnxruntime graph optimization level applied before validation"
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATION_MODES,
        help="also write quantized files beside the float ones, after they validated: dynamic (<name>_quantized.onnx: "
        "int8 weights and activations), int8 or int4 (<name>_int8.onnx, <name>_int4.onnx: weight-only MatMulNBits); "
        "judged on real text by the task's metric (embedding cosine, top-1 agreement; decoders: greedy tokens and "
        "perplexity)",
    )
    parser.add_argument(
        "--block-size",
        type=int,
        metavar="N",
        help="--quantize int4/int8: inputs per weight scale, a power of two from 16 to 256 (default 32)",
    )
    parser.add_argument(
        "--accuracy-level",
        type=int,
        choices=range(5),
        metavar="{0-4}",
        help="--quantize int4/int8: MatMulNBits' compute, 4 (default: int8 products, the fastest on CPU) to 0 "
        "(float32)",
    )
    parser.add_argument(
        "--no-quantize-lm-head",
        dest="quantize_lm_head",
        action="store_false",
        help="--quantize int4/int8: keep the language-model head float32 (quantized by default)",
    )
    parser.add_argument(
        "--lm-head-bits",
        type=int,
        choices=(4, 8),
        help="--quantize int4/int8: the language-model head's bits (default 8: read whole for every token, it "
        "keeps the float perplexity at 8 bits)",
    )
    parser.add_argument("--report", metavar="REPORT.json", help="write the validation report as JSON")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the exported files in an existing OUTPUT_DIR (other files are kept)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="if another export is writing OUTPUT_DIR, wait for it to finish instead of failing at once",
    )
    parser.add_argument(
        "--max-memory",
        type=size,
        metavar="SIZE",
        help="memory the export may use, e.g. 8G: a model expected to need more is traced without its weights, which "
        "are streamed from its safetensors shards into model.onnx_data, and validated layer by layer",
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
    parser.add_argument(
        "--library",
        choices=("auto", "transformers", "sentence_transformers"),
        default="auto",
        help="whose view of the model to export: sentence_transformers exports a sentence-transformers checkpoint's "
        "whole pipeline (outputs token_embeddings, sentence_embedding; checked against SentenceTransformer.encode), "
        "transformers the transformers model alone (default auto: sentence_transformers where modules.json is)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="where the files go, for the program that loads them: flat (onnxruntime, optimum's ORTModel classes), "
        "transformers.js (onnx/ subfolder, its file names, one merged decoder for encoder-decoders), "
        "sentence-transformers (onnx/model.onnx beside the checkpoint's modules, for backend='onnx'); default auto: "
        "sentence-transformers for a sentence-transformers checkpoint exported with --library transformers, else flat",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.json:
        return _export(args)
    try:
        return _export(args)
    except Exception as exc:
        from modelexport_core.errors import ModelExportError

        # the one JSON document says what failed; the command's error line still goes to stderr
        code = int(getattr(exc, "exit_code", 2)) if isinstance(exc, ModelExportError) else 1
        report = getattr(exc, "report", None)
        document: dict[str, Any] = {
            "error": {"type": type(exc).__name__, "message": str(exc), "exit_code": code},
            "model": args.model,
            "output_dir": args.output,
        }
        if report is not None and hasattr(report, "to_dict"):
            document["validation"] = report.to_dict()
        print(json.dumps(document, indent=2))
        sys.stdout.flush()
        raise


def _export(args: argparse.Namespace) -> int:
    from .main_export import main_export

    # With --json, stdout carries the one JSON document and nothing else: progress lines, and anything
    # the libraries print, go to stderr.
    with _stdout_to_stderr() if args.json else contextlib.nullcontext():
        result = main_export(
            args.model,
            args.output,
            args.task,
            framework=args.framework,
            opset=args.opset,
            atol=args.atol,
            converter=args.exporter,
            dynamic_axes=args.dynamic_axes,
            batch_size=args.batch_size,
            sequence_length=args.sequence_length,
            dtype=args.dtype,
            optimize=args.optimize,
            quantize=args.quantize,
            block_size=args.block_size,
            accuracy_level=args.accuracy_level,
            quantize_lm_head=args.quantize_lm_head,
            lm_head_bits=args.lm_head_bits,
            report=args.report,
            overwrite=args.overwrite,
            cache_dir=args.cache_dir,
            revision=args.revision,
            trust_remote_code=args.trust_remote_code,
            generation_check=args.generation_check,
            library=args.library,
            wait=args.wait,
            max_memory=args.max_memory,
            layout=args.layout,
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
                    "library": result.library,
                    "validation": result.validation.to_dict(),
                    "timings": result.timings,
                },
                indent=2,
            )
        )
    else:
        print(f"Exported {result.model_type} ({result.task}) to {result.output_dir}: {', '.join(result.files)}")
        print(f"validated against {result.framework}: {result.validation.summary()}; {result.timings['total']:.1f} s")
    sys.stdout.flush()
    return 0
