"""The soak's memory sampling on a real process: a shared segment counts apart, with its size."""

import mmap

import psutil

from scripts.soak.memory import footprint


def test_a_shared_segment_counts_apart_from_private_memory_with_its_size():
    me = [psutil.Process()]
    before = footprint(me)
    segment = mmap.mmap(-1, 64 * 2**20, flags=mmap.MAP_SHARED)  # as PostgreSQL's shared buffers
    try:
        segment[: 16 * 2**20] = b"x" * (16 * 2**20)  # the part of the cache filled so far
        after = footprint(me)
    finally:
        segment.close()
    assert 15 <= after.shared_mib - before.shared_mib <= 17
    assert 63 <= after.shared_size_mib - before.shared_size_mib <= 65
    # The bytes object written from is private; the segment's pages are not counted there again.
    assert after.private_mib - before.private_mib < 16 + 8
