"""One training step's loss and summed gradients, for the one-process vs two-process equivalence test.

python tests/dist_step.py LM_DIR DATA OUT                         (one process)
python -m torch.distributed.run --nproc_per_node 2 tests/dist_step.py LM_DIR DATA OUT
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from o1_retriever.trainer.batches import Collator  # noqa: E402
from o1_retriever.trainer.config import TrainConfig  # noqa: E402
from o1_retriever.trainer.modeling import TrainableModel  # noqa: E402
from o1_retriever.trainer.records import read_records  # noqa: E402
from o1_retriever.trainer.distributed import all_sum, sum_gradients, world  # noqa: E402
from o1_retriever.trainer.train import local_batches, step_gradients  # noqa: E402


def main(lm_dir: str, data: str, out: str) -> None:
    torch.use_deterministic_algorithms(True)
    rank, size = world()
    config = TrainConfig(
        model={"base": lm_dir},
        data=data,
        batch_size=8,
        group_size=3,
        lora_r=4,
        lora_alpha=8,
        thought_dropout=0.3,
        temperature=0.05,
    )
    model = TrainableModel.build(config)
    records = read_records(data)
    batches, queries, tokens = local_batches(0, records, config, Collator(model), rank, size)
    loss_r, loss_g = step_gradients(model, batches, queries, tokens, config)
    params = model.named_trainable()
    sum_gradients(list(params.values()))
    result = {
        "loss_r": all_sum(loss_r),
        "loss_g": all_sum(loss_g),
        "tokens": tokens,
        "grads": {n: p.grad.clone() for n, p in params.items() if p.grad is not None},
    }
    if rank == 0:
        torch.save(result, out)
    if size > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
