"""The command's signal handling (``modelexport._interrupts``): it exits from the handler, never raises.

CI once saw an export interrupted during ``import torch`` abort with exit -6: "terminate called after
throwing an instance of 'pybind11::error_already_set'". A ``KeyboardInterrupt`` raised while C or C++
code runs Python code is lost or fatal; these tests interrupt exactly there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

#: Interrupts itself while C code (libc's qsort) runs a Python callback, with a half-written folder registered.
IN_A_C_CALLBACK = textwrap.dedent(
    """
    import ctypes, os, signal, sys, time
    from pathlib import Path
    from modelexport import _interrupts
    from modelexport_core.interruption import removed_if_interrupted

    _interrupts.install()
    folder = Path(sys.argv[1]) / "partial"
    COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def compare(a, b):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        return 0

    with removed_if_interrupted(folder):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
        values = (ctypes.c_int * 4)(4, 3, 2, 1)
        ctypes.CDLL(None).qsort(values, 4, ctypes.sizeof(ctypes.c_int), COMPARE(compare))
        print("carried on after the interruption")
    """
)

#: Interrupts itself half-way through importing a module.
IN_AN_IMPORT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from modelexport import _interrupts

    _interrupts.install()
    import slow_module
    print("the import finished")
    """
)

SLOW_MODULE = textwrap.dedent(
    """
    import os, signal, time
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    """
)


def _run(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "slow_module.py").write_text(SLOW_MODULE)
    return subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=60)


def test_an_interruption_in_a_c_callback_ends_the_command(tmp_path: Path) -> None:
    done = _run(IN_A_C_CALLBACK, tmp_path)
    assert (done.returncode, done.stdout) == (130, ""), done
    assert done.stderr.splitlines() == ["interrupted (SIGINT)"], done.stderr
    assert not (tmp_path / "partial").exists(), "the registered folder was left behind"


def test_raising_there_instead_is_lost(tmp_path: Path) -> None:
    """The check above can fail: Python's own handler raises in the callback, ctypes drops it, the work goes on."""
    python_default = "signal.signal(signal.SIGINT, signal.default_int_handler)"
    raising = IN_A_C_CALLBACK.replace("_interrupts.install()", python_default)
    done = _run(raising, tmp_path)
    assert done.returncode == 0 and "carried on" in done.stdout, done
    assert "Exception ignored" in done.stderr
    assert (tmp_path / "partial").exists()


def test_an_interruption_in_an_import_ends_the_command(tmp_path: Path) -> None:
    done = _run(IN_AN_IMPORT, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (143, "", "interrupted (SIGTERM)\n"), done
