"""torchrun support: when launched by torchrun (RANK/WORLD_SIZE set), join the process group.

Only the CLI calls this; it is the one place that reads the launcher's environment."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def distributed_context() -> Iterator[tuple[int, int]]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        yield 0, 1
        return
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        yield dist.get_rank(), dist.get_world_size()
        # rank 0 still evaluates and writes the report after training; a rank that tore down its
        # gloo connections meanwhile was seen to abort ("terminate called without an active
        # exception"), so every rank waits here until all are done
        dist.barrier()
    finally:
        dist.destroy_process_group()
