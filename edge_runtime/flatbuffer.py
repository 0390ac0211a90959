"""Structural check of a TFLite file before an interpreter reads it.

A ``.tflite`` file is a FlatBuffer (schema: ``tensorflow/lite/schema/schema.fbs``)
whose tables point at each other by offsets. An interpreter follows those
offsets without checking them (tflite-runtime 2.14 does not verify the buffer),
so a file cut short by an interrupted copy makes it read past the end: it
crashes, or, with unlucky memory contents, allocates or loops for a long time.

``check_tflite`` follows the offsets of the ``Model`` table, its vectors and
each weight buffer, and refuses the file if any of them points past its end.
That catches truncation, the usual damage, in pure Python. It cannot catch a
flipped byte inside the bounds: only a checksum (``manifest.json``) does.
"""

from __future__ import annotations

import struct

#: Fields of the ``Model`` table, by their index in the schema.
_MODEL_VECTORS_OF_TABLES = {1: "operator_codes", 2: "subgraphs", 4: "buffers", 6: "metadata", 7: "signature_defs"}
_MODEL_DESCRIPTION, _MODEL_BUFFERS, _MODEL_METADATA_BUFFER = 3, 4, 5
#: Fields of the ``Buffer`` table: inline bytes, or an offset and size past the FlatBuffer (models over 2 GB).
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class DamagedFlatBuffer(ValueError):
    """An offset in the file points outside it."""


class _Reader:
    """Bounds-checked reads of FlatBuffer tables and vectors in ``content``."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def scalar(self, fmt: str, at: int, what: str) -> int:
        """The scalar of struct format ``fmt`` at ``at``."""
        size = struct.calcsize(fmt)
        if at < 0 or at + size > len(self.content):
            raise DamagedFlatBuffer(f"{what} at byte {at} lies past the end ({len(self.content)} bytes)")
        return struct.unpack_from(fmt, self.content, at)[0]

    def table(self, at: int, what: str) -> tuple[int, int, int]:
        """Checks that the table at ``at``, its fields and its vtable lie in the file.

        Returns:
            ``(table, vtable, vtable size)``, what ``field`` takes.
        """
        vtable = at - self.scalar("<i", at, what)
        vtable_size = self.scalar("<H", vtable, f"the vtable of {what}")
        table_size = self.scalar("<H", vtable + 2, f"the vtable of {what}")
        if vtable_size < 4 or vtable_size % 2 or vtable + vtable_size > len(self.content):
            raise DamagedFlatBuffer(f"the vtable of {what} at byte {vtable} lies past the end")
        if at + table_size > len(self.content):
            raise DamagedFlatBuffer(f"{what} ({table_size} bytes from byte {at}) runs past the end "
                                    f"({len(self.content)} bytes)")
        return at, vtable, vtable_size

    def field(self, table: tuple[int, int, int], index: int) -> int | None:
        """The position of a table's field, or ``None`` when the field is absent."""
        at, vtable, vtable_size = table
        if 4 + 2 * index >= vtable_size:
            return None
        offset = self.scalar("<H", vtable + 4 + 2 * index, "a vtable entry")
        return at + offset if offset else None

    def target(self, at: int, what: str) -> int:
        """Follows the offset stored at ``at`` (to a table, vector or string)."""
        return at + self.scalar("<I", at, what)

    def vector(self, at: int, element_size: int, what: str) -> tuple[int, int]:
        """Checks the vector at ``at`` fits in the file; returns (first element, length)."""
        length = self.scalar("<I", at, what)
        if at + 4 + length * element_size > len(self.content):
            raise DamagedFlatBuffer(f"{what} ({length} elements from byte {at}) runs past the end "
                                    f"({len(self.content)} bytes)")
        return at + 4, length


def check_tflite(content: bytes) -> None:
    """Checks that every offset of a TFLite model's top-level tables lies inside ``content``.

    Args:
        content: The bytes of a ``.tflite`` file whose identifier was checked.

    Raises:
        DamagedFlatBuffer: Names the first table or vector that lies past the end.
    """
    reader = _Reader(content)
    model = reader.table(reader.target(0, "the root offset"), "the Model table")
    for index, name in _MODEL_VECTORS_OF_TABLES.items():
        at = reader.field(model, index)
        if at is None:
            continue
        first, length = reader.vector(reader.target(at, name), 4, name)
        for element in range(length):
            item = reader.table(reader.target(first + 4 * element, name), f"{name}[{element}]")
            if index == _MODEL_BUFFERS:
                _check_buffer(reader, item, f"buffers[{element}]")
    for index, element_size, name in ((_MODEL_DESCRIPTION, 1, "the description"),
                                      (_MODEL_METADATA_BUFFER, 4, "metadata_buffer")):
        at = reader.field(model, index)
        if at is not None:
            reader.vector(reader.target(at, name), element_size, name)


def _check_buffer(reader: _Reader, buffer: tuple[int, int, int], what: str) -> None:
    """A weight buffer's bytes: inline (``data``), or at ``offset`` with ``size`` after the FlatBuffer."""
    data = reader.field(buffer, _BUFFER_DATA)
    if data is not None:
        reader.vector(reader.target(data, what), 1, f"the data of {what}")
    offset_at, size_at = reader.field(buffer, _BUFFER_OFFSET), reader.field(buffer, _BUFFER_SIZE)
    if offset_at is not None and size_at is not None:
        offset = reader.scalar("<Q", offset_at, what)
        size = reader.scalar("<Q", size_at, what)
        if offset > 1 and offset + size > len(reader.content):
            raise DamagedFlatBuffer(f"the data of {what} ({size} bytes at byte {offset}) lies past the end "
                                    f"({len(reader.content)} bytes)")
