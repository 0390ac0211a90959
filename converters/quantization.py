"""The four model variants and how the TFLite converter is set up for each.

* ``none``: float32 weights and arithmetic (the reference).
* ``float16``: weights stored as float16, computed in float32.
* ``dynamic``: dynamic-range quantization, int8 weights; its hybrid kernels
  quantize the activations to int8 on the fly.
* ``int8``: int8 weights with per-channel scales, float32 arithmetic
  (``converters.weight_only``): the size of int8, the order of float32.
  With ``int8_activations``, full-integer quantization instead: weights and
  activations int8, with activation ranges calibrated on a sample of training
  (user, titles) requests, for integer-only accelerators. A ranker's outputs
  then take a few hundred levels at most, and the order gate refuses it.

The string inputs and the vocabulary lookups stay as they are in every variant,
so the model still takes raw strings and returns float32 ratings.

Dense layers are quantized per tensor, not per channel: per-channel dense
kernels need ``FULLY_CONNECTED`` version 12, which runtimes before 2.17
(tflite-runtime 2.14 among them) cannot load.

Calibration: TensorFlow's calibrator cannot feed string tensors (it fails
with ``basic_string::_M_create`` or crashes), so ``calibrate`` records the
float model's activation ranges itself with the TFLite interpreter and hands
the calibrated model to the converter's own quantizer, as the built-in
calibrator would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf

from converters.config import VARIANTS

Sample = dict[str, np.ndarray]


def configure(converter: tf.lite.TFLiteConverter, quantize: str, per_channel_dense: bool,
              representative: Callable[[], Iterable[Sample]] | None, int8_activations: bool = False) -> None:
    """Sets the converter's optimisations for one variant.

    Args:
        converter: A converter for the ranker's ``score`` signature.
        quantize: One of ``VARIANTS``.
        per_channel_dense: Quantize dense kernels per channel (needs runtime >= 2.17).
        representative: Calibration requests, used by full-integer ``int8`` only.
        int8_activations: ``int8`` is full-integer; otherwise the converter
            writes float32 and ``converters.weight_only`` quantizes its weights.
    """
    if quantize not in VARIANTS:
        raise ValueError(f"unknown quantization {quantize!r}; choose one of {sorted(VARIANTS)}")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "none" or (quantize == "int8" and not int8_activations):
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = representative
        # Integer kernels wherever one exists; the string lookups have none and stay as they are.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]


def representative_requests(users: np.ndarray, titles: np.ndarray, count: int, candidates: int,
                            seed: int) -> Callable[[], Iterator[Sample]]:
    """Calibration requests drawn from (user, title) training pairs.

    Args:
        users, titles: Training pairs.
        count: Requests: distinct users, drawn at random.
        candidates: Titles per request, drawn from all training titles.
        seed: Seeds the draw.

    Returns:
        A generator function of ``{"user_id": [1], "movie_title": [candidates]}`` byte-string arrays.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.unique(users), size=min(count, len(np.unique(users))), replace=False)
    requests = [(user, titles[rng.integers(0, len(titles), candidates)]) for user in chosen]

    def generate() -> Iterator[Sample]:
        for user, picked in requests:
            yield {"user_id": np.array([user.encode()], dtype=object),
                   "movie_title": np.array([title.encode() for title in picked], dtype=object)}

    return generate


class _Calibrator:
    """Stands in for ``tensorflow.lite.python.optimize.calibrator.Calibrator`` (same interface).

    Runs the float model on each sample with every tensor kept, records each
    float32 tensor's min and max, and writes them into the model's
    quantization parameters, which is what the converter's quantizer reads.
    """

    def __init__(self, model_content: bytes, *unused_args: object, **unused_kwargs: object) -> None:
        self._model = model_content

    def calibrate(self, dataset_gen: Callable[[], Iterable[Sample]]) -> bytes:
        import flatbuffers
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        from tensorflow.lite.python import schema_py_generated as schema

        # No delegate: a delegated subgraph hides its intermediate tensors.
        interpreter = Interpreter(model_content=self._model, experimental_preserve_all_tensors=True,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        signature, = interpreter.get_signature_list()
        by_name = {name: detail["index"]
                   for name, detail in interpreter.get_signature_runner(signature).get_input_details().items()}
        low: dict[int, float] = {}
        high: dict[int, float] = {}
        for sample in dataset_gen():
            for name, value in sample.items():
                interpreter.resize_tensor_input(by_name[name], value.shape)
            interpreter.allocate_tensors()
            for name, value in sample.items():
                interpreter.set_tensor(by_name[name], value)
            interpreter.invoke()
            for detail in interpreter.get_tensor_details():
                if detail["dtype"] != np.float32:
                    continue
                with contextlib.suppress(ValueError):  # tensors without data (e.g. unused)
                    value = interpreter.get_tensor(detail["index"])
                    if value.size:
                        index = detail["index"]
                        low[index] = min(low.get(index, np.inf), float(value.min()))
                        high[index] = max(high.get(index, -np.inf), float(value.max()))
        if not low:
            raise ValueError("calibration recorded no float tensors: the representative dataset is empty")
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(self._model, 0))
        for index, tensor in enumerate(model.subgraphs[0].tensors):
            if index in low:
                tensor.quantization = tensor.quantization or schema.QuantizationParametersT()
                tensor.quantization.min, tensor.quantization.max = [low[index]], [high[index]]
        builder = flatbuffers.Builder(len(self._model))
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


@contextlib.contextmanager
def string_capable_calibration() -> Iterator[None]:
    """Within the block, the converter calibrates with ``_Calibrator``."""
    from tensorflow.lite.python import lite

    original = lite._calibrator.Calibrator
    lite._calibrator.Calibrator = _Calibrator
    try:
        yield
    finally:
        lite._calibrator.Calibrator = original
