"""Weight-only int8: int8 weights on disk, float32 arithmetic on the device.

A ranker orders a whole catalogue whose predicted ratings sit in a narrow band,
so neighbouring titles differ by a few thousandths of a star. Quantizing the
activations to int8 (full-integer quantization) rounds the hidden layers and
the output to at most 256 levels and collapses that order: on MovieLens 100K
the tutorial ranker's 1,664 titles fall into about 18 distinct scores. The
size, though, is in the weights: the embedding tables and dense kernels.

So the ``int8`` variant stores each float32 weight (a ``FULLY_CONNECTED``
kernel or a ``GATHER`` table) as int8 with one symmetric scale per channel, and
reads it through a ``DEQUANTIZE`` op, wherever that makes the file smaller. A
weight that several ops read (a history model gathers from the table it also
multiplies by) is stored once, with the channels of the first op that reads it. The
interpreter dequantizes constant inputs once, when the model is prepared (the
XNNPACK delegate likewise), so every request computes in float32 at float32's
speed, from a file about a quarter of float32's size. Channels are a kernel's
output units and a table's embedding dimensions (one scale per column, so the
scales cost a few hundred bytes, not one per row of a large vocabulary).

The rewrite works on the converted float32 flatbuffer (TensorFlow Lite's
schema, the same one the converter writes) and records the oldest runtime that
has per-channel ``DEQUANTIZE`` in the model's ``min_runtime_version``.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

#: Bytes a quantized weight adds besides its values: per channel a float32 scale and an int64 zero
#: point, and once the int8 tensor and its DEQUANTIZE op (an estimate that errs high).
CHANNEL_BYTES, TENSOR_BYTES = 12, 256
#: Weights with fewer channels stay float32: one scale would span values of every size, and such a
#: "kernel" may be no weight at all (the converter can pass a constant row, such as a history model's
#: mean user, to FULLY_CONNECTED as its kernel).
MIN_CHANNELS = 2

_OPS = schema.BuiltinOperator
#: The weight input of each op whose weights are quantized, and the axis that holds its channels.
WEIGHT_INPUTS = {_OPS.FULLY_CONNECTED: (1, 0), _OPS.GATHER: (0, 1)}
#: DEQUANTIZE of int8 with per-channel scales is version 5, which TensorFlow Lite 2.7.0 introduced.
DEQUANTIZE_VERSION, DEQUANTIZE_RUNTIME = 5, "2.7.0"


def quantize_weights(model: bytes) -> bytes:
    """Rewrites a float32 ``.tflite`` model so its large weights are int8 read through ``DEQUANTIZE``.

    Args:
        model: A float32 model from the TFLite converter.

    Returns:
        The same model (same signatures, inputs, outputs and arithmetic) with
        int8 weights; its ``min_runtime_version`` metadata raised to
        ``DEQUANTIZE_RUNTIME`` where it was older.
    """
    root = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    dequantize = _opcode(root, _OPS.DEQUANTIZE, DEQUANTIZE_VERSION)
    quantized: dict[tuple[int, int], int] = {}  # (float buffer, axis) -> int8 buffer: signatures share weights
    for subgraph in root.subgraphs:
        weights: dict[int, int] = {}  # tensor -> the axis of its channels: its first reader's
        for operator in subgraph.operators:
            code = root.operatorCodes[operator.opcodeIndex]
            position, axis = WEIGHT_INPUTS.get(max(code.builtinCode, code.deprecatedBuiltinCode), (None, None))
            if position is not None and len(operator.inputs) > position:
                weights.setdefault(operator.inputs[position], axis)
        dequantizers = [_quantize_tensor(root, subgraph, index, axis, dequantize, quantized)
                        for index, axis in sorted(weights.items())]
        subgraph.operators = [op for op in dequantizers if op is not None] + list(subgraph.operators)
    # A float tensor that DEQUANTIZE now writes holds no data; its buffer goes once no other tensor reads it.
    rewritten = {(position, op.outputs[0]) for position, subgraph in enumerate(root.subgraphs)
                 for op in subgraph.operators if op.opcodeIndex == dequantize}
    readers = {(position, index): tensor.buffer for position, subgraph in enumerate(root.subgraphs)
               for index, tensor in enumerate(subgraph.tensors)}
    for buffer in {buffer for buffer, _ in quantized}:
        if all(key in rewritten for key, read in readers.items() if read == buffer):
            root.buffers[buffer].data = None
    _raise_min_runtime(root, DEQUANTIZE_RUNTIME)
    builder = flatbuffers.Builder(len(model))
    builder.Finish(root.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode(root: schema.ModelT, builtin: int, version: int) -> int:
    """Index of the (op, version) operator code, added if the model lacks it."""
    for index, code in enumerate(root.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin and code.version == version:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    root.operatorCodes.append(code)
    return len(root.operatorCodes) - 1


def _quantize_tensor(root: schema.ModelT, subgraph: schema.SubGraphT, index: int, axis: int, dequantize: int,
                     quantized_buffers: dict[tuple[int, int], int]) -> schema.OperatorT | None:
    """Reads a float32 constant from a new int8 tensor; returns the DEQUANTIZE that recreates it.

    ``quantized_buffers`` maps (float buffer, axis) to the int8 buffer already
    made for it, so a weight several subgraphs share is stored once; the caller
    empties the float buffers when every subgraph is done.
    """
    tensor = subgraph.tensors[index] if index >= 0 else None
    if tensor is None or tensor.type != schema.TensorType.FLOAT32:
        return None
    buffer = root.buffers[tensor.buffer]
    if buffer.data is None:
        return None  # computed, not a weight
    weights = np.frombuffer(bytes(bytearray(buffer.data)), np.float32).reshape(tensor.shape)
    if weights.shape[axis] < MIN_CHANNELS or 3 * weights.size <= CHANNEL_BYTES * weights.shape[axis] + TENSOR_BYTES:
        return None  # one channel, or int8 values would save less than their scales cost
    channels = np.moveaxis(np.abs(weights), axis, 0).reshape(weights.shape[axis], -1).max(axis=1)
    scales = np.where(channels > 0, channels / 127.0, 1.0).astype(np.float32)
    if (tensor.buffer, axis) not in quantized_buffers:
        shape = [1] * weights.ndim
        shape[axis] = -1
        stored = schema.BufferT()
        stored.data = np.clip(np.round(weights / scales.reshape(shape)), -127, 127).astype(np.int8).tobytes()
        root.buffers.append(stored)
        quantized_buffers[(tensor.buffer, axis)] = len(root.buffers) - 1
    quantized = schema.TensorT()
    quantized.name, quantized.shape, quantized.type = tensor.name + b"/int8", list(tensor.shape), schema.TensorType.INT8
    quantized.buffer = quantized_buffers[(tensor.buffer, axis)]
    quantized.quantization = schema.QuantizationParametersT()
    quantized.quantization.scale, quantized.quantization.zeroPoint = scales.tolist(), [0] * len(scales)
    quantized.quantization.quantizedDimension = axis
    subgraph.tensors.append(quantized)

    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = dequantize, [len(subgraph.tensors) - 1], [index]
    return operator


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _raise_min_runtime(root: schema.ModelT, runtime: str) -> None:
    """Sets the ``min_runtime_version`` metadata to ``runtime`` if it names an older one."""
    for metadata in root.metadata or []:
        if metadata.name == b"min_runtime_version":
            buffer = root.buffers[metadata.buffer]
            current = bytes(bytearray(buffer.data)).rstrip(b"\0").decode()
            if _version(current) < _version(runtime):
                buffer.data = runtime.encode().ljust(len(buffer.data), b"\0")
