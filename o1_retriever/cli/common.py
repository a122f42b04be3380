"""What every command shares: option declarations, the error exit, and loading a model with its thinker."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional

import typer

ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    help="Checkpoint folder, built-in name ('default-distilled': the shipped model with its distilled query encoder; "
    "'default-qwen': with Qwen2.5-Coder-1.5B thinking; 'default-mpnet': the larger all-mpnet-base-v2 encoder; "
    "'default-mpnet-distilled': that one with a distilled query encoder) "
    "or hub id [default: the shipped model, also 'default']",
)
FusionOption = typer.Option(
    None,
    help="How hybrid fuses: guarded (z-score fusion that ignores a lexical side that agrees with nothing), "
    "unguarded (z-score fusion, equal weights, no guard) or rrf (equal reciprocal-rank fusion) [default: the "
    "checkpoint's own (an adapted one records its corpus's), else guarded]",
)
BaseUrlOption = typer.Option(None, "--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
ApiKeyEnvOption = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key")
ConcurrencyOption = typer.Option(8, "--concurrency", min=1, help="Parallel requests to an endpoint")
TimeoutOption = typer.Option(60.0, "--timeout", min=0.1, help="Seconds per request to an endpoint")


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@dataclass(frozen=True)
class ThinkerChoice:
    """The ``--thinker`` options of a command; ``backend`` None keeps the model's own thinker."""

    backend: Optional[str] = None
    model: Optional[str] = None
    base_url: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 60.0
    precision: Optional[str] = None

    def build(self):
        from o1_retriever.model.thinkers import build_thinker
        from o1_retriever.model.weights import MissingWeightsError

        if self.backend is None:
            if self.model or self.base_url:
                fail("--thinker-model and --base-url need --thinker local or --thinker openai")
            return None
        if not self.model:
            fail(f"--thinker {self.backend} needs --thinker-model (the LM, or the endpoint's model name)")
        try:
            return build_thinker(
                self.backend,
                self.model,
                base_url=self.base_url,
                api_key_env=self.api_key_env,
                concurrency=self.concurrency,
                timeout=self.timeout,
                precision=self.precision,
            )
        except (ValueError, MissingWeightsError) as error:
            fail(str(error))


#: the options ``thinker_options`` adds, one per ThinkerChoice field, in its order
_THINKER_OPTIONS = {
    "backend": (
        Optional[str],
        typer.Option(None, "--thinker", help="Who thinks: 'local' or 'openai' [default: the model's own LM]"),
    ),
    "model": (
        Optional[str],
        typer.Option(None, "--thinker-model", help="The thinker's model: a local LM or the endpoint's model name"),
    ),
    "base_url": (Optional[str], BaseUrlOption),
    "api_key_env": (str, ApiKeyEnvOption),
    "concurrency": (int, ConcurrencyOption),
    "timeout": (float, TimeoutOption),
    "precision": (
        Optional[str],
        typer.Option(None, "--precision", help="The local thinker's weights: fp32 or int8 [default: the model's]"),
    ),
}


#: the thinking settings ``thinking_options`` adds, one per ``ThinkingConfig`` field
_THINKING_OPTIONS = {
    "n_thoughts": (
        Optional[int],
        typer.Option(None, "--n-thoughts", "-n", "--n", min=1, help="Thoughts per query [default: the model's]"),
    ),
    "max_new_tokens": (
        Optional[int],
        typer.Option(None, "--max-new-tokens", min=1, help="Tokens per thought at most [default: the model's]"),
    ),
    "temperature": (
        Optional[float],
        typer.Option(None, "--temperature", min=0.0, help="Sampling temperature, 0 greedy [default: the model's]"),
    ),
    "top_p": (
        Optional[float],
        typer.Option(None, "--top-p", min=0.0, max=1.0, help="Nucleus sampling mass [default: the model's]"),
    ),
    "seed": (Optional[int], typer.Option(None, "--seed", help="Sampling seed [default: the model's]")),
    "no_repeat_ngram": (
        Optional[int],
        typer.Option(
            None,
            "--no-repeat-ngram",
            min=0,
            help="A thought never repeats an n-gram of its own (local thinker; 0 off) [default: the model's]",
        ),
    ),
    "stop_at_sentence_end": (
        Optional[bool],
        typer.Option(
            None,
            "--stop-at-sentence-end/--no-stop-at-sentence-end",
            help="A thought ends with its first sentence (local thinker) [default: the model's]",
        ),
    ),
}


def _option_group(command, argument: str, options: dict, build):
    """Give ``command`` the typer ``options`` (name -> (type, option)); it receives them as one argument named
    ``argument``: ``build`` of {name: value}."""
    signature = inspect.signature(command)
    added = [
        inspect.Parameter(f"{argument}_{name}", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for name, (kind, option) in options.items()
    ]

    @functools.wraps(command)
    def with_group(*args, **kwargs):
        values = {name: kwargs.pop(f"{argument}_{name}") for name in options}
        return command(*args, **{argument: build(values)}, **kwargs)

    kept = [p for p in signature.parameters.values() if p.name != argument]
    with_group.__signature__ = signature.replace(parameters=kept + added)
    with_group.__annotations__ = {
        **{k: v for k, v in command.__annotations__.items() if k != argument},
        **{p.name: p.annotation for p in added},
    }
    return with_group


@dataclass(frozen=True)
class IndexChoice:
    """The options that say where an index lives: an embedded Chroma folder, or a Chroma server."""

    store: Path = Path("o1-index")
    collection: str = "o1-retriever"
    host: Optional[str] = None
    port: int = 8000
    lexical_path: Optional[Path] = None

    def open(self, model, *, create: bool):
        """The ``ChromaIndex`` these options name, for ``model``; a missing or mismatched index is an error line."""
        from o1_retriever.retrieval.chroma_index import ChromaIndex
        from o1_retriever.retrieval.index import EmptyIndexError, IndexMismatchError
        from o1_retriever.retrieval.stores import StoreUnavailableError

        try:
            return ChromaIndex(
                model,
                self.store,
                collection=self.collection,
                host=self.host,
                port=self.port,
                create=create,
                lexical_path=self.lexical_path,
            )
        except (EmptyIndexError, IndexMismatchError, StoreUnavailableError) as error:
            fail(str(error))


#: the options ``index_options`` adds, one per IndexChoice field
_INDEX_OPTIONS = {
    "store": (Path, typer.Option(Path("o1-index"), "--store", "-s", help="Folder of the embedded Chroma database")),
    "collection": (str, typer.Option("o1-retriever", "--collection", "-c", help="Chroma collection name")),
    "host": (Optional[str], typer.Option(None, "--host", help="Chroma server host (instead of --store)")),
    "port": (int, typer.Option(8000, "--port", help="Chroma server port")),
    "lexical_path": (
        Optional[Path],
        typer.Option(
            None,
            "--lexical-path",
            help="With --host: a local folder for the lexical (BM25) index [default: kept in memory, rebuilt per run]",
        ),
    ),
}


def index_options(command):
    """Give a command the options that say where the index lives; it receives them as one ``index: IndexChoice``."""
    return _option_group(command, "index", _INDEX_OPTIONS, lambda values: IndexChoice(**values))


def thinker_options(command):
    """Give a command the ``--thinker`` options; it receives them as one ``thinker: ThinkerChoice`` argument."""
    return _option_group(command, "thinker", _THINKER_OPTIONS, lambda values: ThinkerChoice(**values))


def thinking_options(command):
    """Give a command the thinking settings (``--n-thoughts``, ``--temperature``, ...); it receives the ones given
    as one ``thinking: dict`` argument, keyed by ``ThinkingConfig`` field (empty: the model's settings)."""
    return _option_group(
        command, "thinking", _THINKING_OPTIONS, lambda values: {k: v for k, v in values.items() if v is not None}
    )


def load_model(model: Optional[str], encoder: Optional[str] = None, thinker: ThinkerChoice = ThinkerChoice()):
    """The model named on the command line, with the chosen thinker; missing weights are an error, not a traceback."""
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.model.weights import MissingWeightsError

    chosen = thinker.build()
    try:
        return ThinkThenEmbed.from_pretrained(model, encoder=encoder, thinker=chosen, precision=thinker.precision)
    except (MissingWeightsError, ValueError) as error:
        fail(str(error))
