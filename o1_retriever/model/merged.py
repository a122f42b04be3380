"""LoRA adapters merged into a model's weights (inference at the base model's speed: unmerged LoRA made
all-MiniLM-L6-v2 embed documents about 1.4x slower on a CPU), and a cache of merged
encoders so that a serving process loads them without peft: merging through peft took 1.2–1.9 s of a 4 s load.

A cached merge is keyed by the bytes of the weights it merged into and of the adapter, so any change to either is a
new entry; entries live in ``$O1_RETRIEVER_HOME/merged`` and may be deleted at any time."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import torch

from o1_retriever.model.weights import home_dir

logger = logging.getLogger(__name__)

#: bump when what a cached merge holds changes
CACHE_FORMAT = "1"


def merge_adapter(model, adapter_dir: Path, *, cache: bool = False):
    """``model`` with the LoRA adapter in ``adapter_dir`` merged into its weights (through peft), in eval mode.
    ``cache``: read the merged weights from the merge cache when present, else write them there (best effort)."""
    path = _cache_path(model, adapter_dir) if cache else None
    if path is not None and path.is_file():
        from safetensors.torch import load_model

        try:
            load_model(model, str(path), strict=True)
            return model.eval()
        except Exception as error:  # a torn file (read whole before any tensor loads): merge again, replace it
            logger.warning("ignoring the cached merge %s (%s): merging again", path, error)
    from peft import PeftModel

    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().eval()
    if path is not None:
        _save(merged, path)
    return merged


def _cache_path(model, adapter_dir: Path) -> Path:
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    for file in sorted(p for p in Path(adapter_dir).iterdir() if p.is_file()):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return home_dir() / "merged" / f"{digest.hexdigest()[:32]}.safetensors"


def _save(model, path: Path) -> None:
    """Write the merged weights atomically; a cache that cannot be written only costs the next load a merge."""
    from safetensors.torch import save_model

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=path.name, suffix=".partial", dir=path.parent)
        os.close(handle)
        try:
            save_model(model, partial)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError as error:
        logger.info("could not cache the merged weights in %s (%s): the next load merges again", path.parent, error)
