"""Weight-only int8 (``converters.weight_only``): int8 weights in the file, float32 arithmetic on the device."""

from __future__ import annotations

import numpy as np

#: Rows and columns of the table the test model both gathers from and multiplies by.
ROWS, COLUMNS = 400, 40


def _table_model() -> tuple[bytes, np.ndarray]:
    """A float32 ``.tflite`` model whose one table a GATHER and a FULLY_CONNECTED both read, and that table."""
    import tensorflow as tf

    table = np.random.default_rng(0).normal(size=(ROWS, COLUMNS)).astype(np.float32)

    class TableModel(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = tf.constant(table)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="index"),
                                      tf.TensorSpec([1, COLUMNS], tf.float32, name="row")])
        def serve(self, index: tf.Tensor, row: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"rows": tf.gather(self.table, index), "products": tf.matmul(row, self.table, transpose_b=True)}

    module = TableModel()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    return converter.convert(), table


def test_a_weight_two_ops_read_is_stored_once_in_int8() -> None:
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import schema_py_generated as schema

    from converters.weight_only import quantize_weights

    float32, table = _table_model()
    quantized = quantize_weights(float32)
    root = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(quantized, 0))
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in root.operatorCodes]
    operators = [codes[op.opcodeIndex] for op in root.subgraphs[0].operators]
    assert schema.BuiltinOperator.GATHER in operators and schema.BuiltinOperator.FULLY_CONNECTED in operators
    assert operators.count(schema.BuiltinOperator.DEQUANTIZE) == 1
    assert len(float32) - len(quantized) > 0.7 * table.nbytes  # the float32 table is gone, one int8 copy is left

    interpreter = Interpreter(model_content=quantized)
    score = interpreter.get_signature_runner()
    row = np.random.default_rng(1).normal(size=(1, COLUMNS)).astype(np.float32)
    result = score(index=np.arange(ROWS, dtype=np.int32), row=row)
    # One scale per column (the gather's channels, as it reads the table first): each entry within half a step.
    step = np.abs(table).max(axis=0) / 127
    assert np.all(np.abs(result["rows"] - table) <= step / 2 + 1e-6)
    np.testing.assert_allclose(result["products"], row @ result["rows"].T, rtol=1e-5, atol=1e-4)
