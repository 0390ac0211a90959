"""Which runtimes can load a converted model: its ops, their versions, and the oldest runtime.

The converter stamps every model with ``min_runtime_version`` metadata, the
oldest TFLite runtime that implements every (op, version) pair it uses (from
TensorFlow Lite's own version table). A model whose minimum is newer than the
declared target is refused before anything is written: e.g. per-channel
dense quantization emits ``FULLY_CONNECTED`` version 12, which needs 2.17,
and tflite-runtime 2.14 then fails to load it ("Didn't find op for builtin
opcode 'FULLY_CONNECTED' version '12'").
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorflow.lite.python import schema_py_generated as schema

from edge_runtime.errors import EdgeRankError

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


class CompatibilityError(EdgeRankError):
    """The converted model needs a newer runtime than the declared target."""


@dataclass(frozen=True)
class ModelOps:
    """What a ``.tflite`` uses.

    Attributes:
        ops: ``"NAME vVERSION"`` for each op and version, sorted (``"FULLY_CONNECTED v4"``).
        min_runtime_version: The oldest runtime that runs them all (``"2.5.0"``).
    """

    ops: list[str]
    min_runtime_version: str


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def inspect(model: bytes) -> ModelOps:
    """Reads the operator codes and the ``min_runtime_version`` metadata of a model."""
    root = schema.Model.GetRootAsModel(model, 0)
    ops = set()
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.add(f"{_OP_NAMES.get(builtin, f'BUILTIN_{builtin}')} v{code.Version()}")
    minimum = "unknown"
    for i in range(root.MetadataLength()):
        metadata = root.Metadata(i)
        if metadata.Name() == b"min_runtime_version":
            minimum = root.Buffers(metadata.Buffer()).DataAsNumpy().tobytes().rstrip(b"\0").decode()
    return ModelOps(sorted(ops), minimum)


def check(model_ops: ModelOps, target_runtime: str) -> None:
    """Refuses a model the target runtime cannot load.

    Args:
        model_ops: From ``inspect``.
        target_runtime: The oldest runtime to support, e.g. ``"2.14.0"``.

    Raises:
        CompatibilityError: Naming the minimum runtime and the versioned ops.
    """
    if model_ops.min_runtime_version == "unknown":
        raise CompatibilityError("the converted model carries no min_runtime_version metadata; cannot check it")
    if _version_tuple(model_ops.min_runtime_version) > _version_tuple(target_runtime):
        newest = ", ".join(op for op in model_ops.ops if not op.endswith(" v1"))
        raise CompatibilityError(
            f"the converted model needs TFLite runtime {model_ops.min_runtime_version} but the target is "
            f"{target_runtime} (ops above version 1: {newest}); quantize dense layers per tensor "
            "(--no-per-channel-dense) or raise --target-runtime"
        )
