"""``check_split``: count a split's TFRecords before training, without TensorFlow and without reading payloads.

A TFRecord file is a sequence of records::

    uint64 length          little-endian payload length in bytes
    uint32 length CRC      masked CRC-32C of the 8 length bytes
    byte   payload[length]
    uint32 payload CRC     masked CRC-32C of the payload

``check_split`` reads each 12-byte header and seeks past the payload, so a COCO-size split (118k records,
~19 GB) is counted in well under a second from a warm cache. The length CRC is checked (a pure-Python CRC-32C of
8 bytes per record); payload CRCs are not (that would read every byte). Any problem is one ``InputError`` line.
"""

import glob
import os
import struct

from keras_centernet.validation import InputError

_HEADER = struct.Struct("<QI")  # length, masked CRC-32C of the length
_FOOTER_BYTES = 4  # masked CRC-32C of the payload
_CRC32C_POLYNOMIAL = 0x82F63B78  # Castagnoli, bit-reversed


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def masked_crc32c(data):
    """TFRecord's masked CRC-32C of ``data`` (bytes) as an unsigned 32-bit int."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def count_records(path, argument="--data_dir"):
    """Number of records in one TFRecord file (int), walking the headers with seeks.

    Raises InputError naming ``argument``, the file, the record index and its byte offset when a header is
    cut short, a length field fails its CRC (not a TFRecord file, or corrupt), or a record runs past the end
    of the file (the file was truncated, e.g. a conversion killed mid-write by an older version).
    """
    size = os.path.getsize(path)
    index = offset = 0
    with open(path, "rb") as file:
        while offset < size:
            file.seek(offset)
            header = file.read(_HEADER.size)
            where = f"{argument}: shard {path}: record {index} at byte {offset}"
            if len(header) < _HEADER.size:
                raise InputError(f"{where}: truncated ({size - offset} bytes left, a record header needs "
                                 f"{_HEADER.size}): convert the split again")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise InputError(f"{where}: the length field fails its CRC: not a TFRecord file or corrupt; "
                                 "convert the split again")
            end = offset + _HEADER.size + length + _FOOTER_BYTES
            if end > size:
                raise InputError(f"{where}: truncated (the record needs bytes up to {end}, the file has {size}): "
                                 "convert the split again")
            index, offset = index + 1, end
    return index


def check_split(file_pattern, argument="--data_dir"):
    """Number of records (int) in the shards matching ``file_pattern`` (a glob or a list of globs), e.g.
    ``layout.record_file_pattern(data_dir, "train")``.

    Raises InputError (one line naming ``argument``) when no file matches, when the split holds no records,
    or when a shard is truncated or corrupt (see ``count_records``). No TensorFlow: runs before the model is built.
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
    shown = ", ".join(repr(os.fspath(pattern)) for pattern in patterns)
    files = sorted({path for pattern in patterns for path in glob.glob(os.fspath(pattern)) if os.path.isfile(path)})
    if not files:
        raise InputError(f"{argument}: no TFRecord shards match {shown}: write them with keras-centernet "
                         "convert-coco or convert-voc (--output DIR, --split SPLIT)")
    total = sum(count_records(path, argument) for path in files)
    if total == 0:
        raise InputError(f"{argument}: the {len(files)} shard(s) matching {shown} hold 0 records: convert the "
                         "split again (with images that are not all skipped)")
    return total
