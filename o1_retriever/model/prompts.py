"""Every prompt string and special token of the method, in one place (docs/design.md, "The method")."""

from __future__ import annotations

QUERY_OPEN = "<query>"
QUERY_CLOSE = "</query>"
THOUGHT = "<thought>"
EMB = "<emb>"
SPECIAL_TOKENS = (QUERY_OPEN, QUERY_CLOSE, THOUGHT, EMB)

#: Bumped whenever a template below changes, so caches and indexes keyed on it are invalidated.
PROMPT_VERSION = "1"


def thinking_prompt_ids(query_ids: list[int], special_ids: list[int]) -> list[int]:
    """What the thinker continues, ``<query>{q}</query><thought>``, built from the tokenised query (so no text round
    trip can split the special tokens); ``special_ids`` in SPECIAL_TOKENS order. A thought ``t`` follows, then
    ``<eos><emb>`` where it is embedded."""
    query_open, query_close, thought, _ = special_ids
    return [query_open, *query_ids, query_close, thought]


def document_text(text: str, title: str = "") -> str:
    """A passage as the model reads it: ``{title} {text}`` (the ``<emb>`` token is appended by the encoder)."""
    return f"{title} {text}" if title else text


def split_query_text(query: str, thought: str | None) -> str:
    """What a separate encoder reads in split mode: the query followed by one thought."""
    return f"{query} {thought}" if thought else query


EXPERT_INSTRUCTION = "Think about a plausible response to address the query."
EXPERT_FORMAT = "Answer with a short passage, as it could appear in a relevant document."

#: Zero-shot thinking through a chat model (an untrained instruct LM, an endpoint, a LangChain/LlamaIndex LLM).
CHAT_THINKING_INSTRUCTION = (
    "Think about a plausible response to address the query. Write a short passage that answers it."
)


def thinking_messages(query: str, examples: tuple[tuple[str, str], ...] = ()) -> list[dict[str, str]]:
    """The chat messages that ask any chat model for one thought about ``query``.

    Zero-shot (query time): one user turn with the instruction and the query, which every chat template accepts.
    Few-shot (synthesis, docs/design.md): the instruction as a system turn, the (query, positive passage) examples as
    earlier turns of the conversation, then the query.
    """
    if not examples:
        return [{"role": "user", "content": f"{CHAT_THINKING_INSTRUCTION}\n\nQuery: {query}"}]
    messages = [{"role": "system", "content": f"{EXPERT_INSTRUCTION} {EXPERT_FORMAT}"}]
    for shot_query, passage in examples:
        messages += [{"role": "user", "content": shot_query}, {"role": "assistant", "content": passage}]
    return messages + [{"role": "user", "content": query}]


#: ``adapt``: the writer is asked, zero-shot, for a question each passage answers (a few-shot conversation made
#: SmolLM2 echo its examples' questions for unrelated passages). A small writer loses an instruction placed after a long
#: passage on some corpora and not on others, and on some it answers only when asked for a searcher's question in their
#: own words, so ``adapt`` tries each prompt on a few passages and keeps the one that yields more questions: the
#: instruction after the passage, before it, or after it asking for a searcher's own words. A few real, unjudged
#: questions of the corpus's users set the style when given (Promptagator-style).
QUESTION_INSTRUCTION = "Write a question that the text above answers. Reply with the question only."
QUESTION_INSTRUCTION_FIRST = "Write a specific question that the following text answers. Reply with the question only."
QUESTION_INSTRUCTION_OWN_WORDS = (
    "Someone who has not read the text above is looking for it with a search engine. Write the question they would "
    "type, in their own words: do not copy the text's phrases. Reply with the question only."
)
QUESTION_PROMPTS = ("after", "before", "own-words")
#: what the writer reads of a passage, by prompt
MAX_QUESTION_PASSAGE_CHARS = {"after": 1200, "before": 800, "own-words": 1200}


def question_messages(passage: str, style: tuple[str, ...] = (), prompt: str = "after") -> list[dict[str, str]]:
    """The chat messages that ask a chat model for one question ``passage`` answers with the question ``prompt`` (one
    of ``QUESTION_PROMPTS``); ``style``: questions the collection's users ask (unjudged), listed to set the wording."""
    if prompt not in QUESTION_PROMPTS:
        raise ValueError(f"the question prompt must be one of {QUESTION_PROMPTS}, got {prompt!r}")
    shown = ""
    if style:
        shown = "\n\nWrite it the way these questions of the collection's users are written:\n" + "\n".join(
            f"- {q}" for q in style
        )
    text = passage[: MAX_QUESTION_PASSAGE_CHARS[prompt]]
    if prompt == "before":
        return [{"role": "user", "content": f"{QUESTION_INSTRUCTION_FIRST}{shown}\n\nText: {text}"}]
    if prompt == "own-words":
        return [{"role": "user", "content": f"{text}\n\n{QUESTION_INSTRUCTION_OWN_WORDS}{shown}"}]
    return [{"role": "user", "content": f"{text}\n\n{QUESTION_INSTRUCTION}{shown}"}]
