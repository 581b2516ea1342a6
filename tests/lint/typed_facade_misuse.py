"""Checked by the lint session's mypy, which must fail on it: the facade's lazy names carry their real signatures
(a call with wrong arguments is an error a user's type checker sees, not ``Any``)."""

import modelexport.onnx

modelexport.onnx.main_export(1, 2, bogus=3)
