"""Moment matrices on disk: safetensors files read whole or memory-mapped.

A memory-mapped tensor is a view of the file's bytes (numpy `memmap`, copy-on-write, so nothing is
ever written back): opening costs no reading, and a search reads the pages it scores, through the
operating system's page cache. This is how an index larger than memory is searched.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import torch

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16}


def memory_map_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The float32 / float16 tensors of a safetensors file as memory-mapped CPU tensors.

    The safetensors layout: an 8-byte little-endian header size n, an n-byte JSON header giving each
    tensor's dtype, shape and [begin, end) byte offsets after the header, then the raw data.
    """
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {entry['dtype']}; only {sorted(SAFETENSORS_DTYPES)} can be memory-mapped.")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if begin == end:
            tensors[name] = torch.zeros(shape, dtype=getattr(torch, np.dtype(SAFETENSORS_DTYPES[entry["dtype"]]).name))
            continue
        array = np.memmap(path, dtype=SAFETENSORS_DTYPES[entry["dtype"]], mode="c", offset=8 + header_size + begin, shape=shape)
        tensors[name] = torch.from_numpy(array)
    return tensors


__all__ = ["memory_map_safetensors"]
