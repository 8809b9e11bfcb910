"""The built-in audit pool: generated instructions whose answers the project's code can verify.

Every row carries in ``meta`` its task ``family``, a ``check`` that ``verify`` applies to any answer,
and a ``corruption`` label (``none`` for clean rows). A known fraction of rows is corrupted, so
every selection strategy can be scored against a ground truth; ``heldout_set`` draws fresh tasks of
the same families (disjoint by construction) for the ``synth_heldout`` exact-match benchmark.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.pool import POOL_SCHEMA
from chasing_random.data.records import Record
from chasing_random.errors import ChaseError
from chasing_random.store import atomic_path, write_manifest

SOURCE = "synth"
HELDOUT_DATASET = "synth_heldout"
CORRUPTIONS = ("wrong_answer", "truncated_answer", "other_instruction_answer", "long_wrong_answer",
               "near_duplicate")
LABELS = ("none",) + CORRUPTIONS
HELDOUT_BUCKETS = 10  # one task key in ten belongs to the held-out set, never to a pool
MAX_CLEAN_CHARS = 300  # clean answers stay short ...
MIN_LONG_WRONG_CHARS = 600  # ... so that long wrong answers are clearly the longest
MAX_TRIES = 200

# ----------------------------------------------------------------------------------------------
# Vocabularies (the project's own texts)
# ----------------------------------------------------------------------------------------------
WORDS = ("apple", "river", "garden", "planet", "window", "silver", "candle", "forest", "bridge", "pencil",
         "rocket", "tunnel", "marble", "violin", "castle", "meadow", "harbor", "lantern", "pepper", "jacket",
         "button", "dragon", "puzzle", "ladder", "basket", "thunder", "anchor", "blanket", "cactus", "dolphin",
         "engine", "feather", "glacier", "hammock", "island", "jungle", "kettle", "lemon", "magnet", "needle",
         "orchard", "parrot", "quarry", "ribbon", "saddle", "teapot", "umbrella", "valley", "walnut", "yogurt",
         "zebra", "almond", "beacon", "cobalt", "desert", "emerald", "falcon", "goblet", "horizon", "igloo",
         "jasmine", "kingdom", "lobster", "mustard", "nectar", "oyster", "pirate", "quiver", "raccoon",
         "sparrow", "trumpet", "unicorn", "velvet", "whistle", "canyon", "biscuit", "compass", "drizzle",
         "galaxy", "hazel", "insect", "journal", "koala", "lilac", "mango", "napkin", "olive", "pebble",
         "quartz", "rhythm", "spindle", "tulip", "vessel", "wizard", "banjo", "cherry", "domino", "ember")
CATEGORIES = {
    "fruits": ("apple", "banana", "cherry", "mango", "pear", "plum", "grape", "kiwi", "peach", "lemon"),
    "colors": ("red", "blue", "green", "yellow", "purple", "orange", "teal", "brown", "pink", "gray"),
    "animals": ("cat", "dog", "horse", "rabbit", "tiger", "otter", "eagle", "whale", "fox", "owl"),
    "countries": ("France", "Japan", "Brazil", "Kenya", "Canada", "Peru", "Norway", "India", "Egypt", "Chile"),
    "instruments": ("piano", "violin", "flute", "drum", "guitar", "cello", "harp", "trumpet", "oboe", "banjo"),
    "vegetables": ("carrot", "onion", "potato", "leek", "pea", "kale", "beet", "radish", "celery", "squash"),
    "sports": ("tennis", "soccer", "rugby", "golf", "hockey", "rowing", "cricket", "judo", "skiing", "boxing"),
    "tools": ("hammer", "saw", "wrench", "drill", "chisel", "pliers", "level", "file", "clamp", "trowel"),
    "planets": ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"),
    "birds": ("robin", "sparrow", "crow", "heron", "finch", "parrot", "pigeon", "swan", "wren", "gull"),
}
PURPOSES = ("for a quiz", "for a poem", "for a crossword", "for a school project", "for a trivia night",
            "for a short story", "for a game of charades", "for a spelling lesson", "for a picture book",
            "for a party game", "for a word search", "for flash cards", "for a scavenger hunt",
            "for a classroom poster", "for a memory game", "for a bedtime story", "for a riddle",
            "for a travel journal", "for a board game", "for a song")
TOPICS = ("the ocean", "autumn", "a busy market", "the night sky", "a mountain village", "old libraries",
          "a rainy morning", "city parks", "a long train ride", "winter mornings", "a quiet lake", "bees",
          "a small bakery", "the desert at noon", "lighthouses", "a school garden", "river boats",
          "a snowy forest", "street musicians", "a summer festival", "the moon", "a fishing harbor",
          "a vegetable patch", "clock towers", "a windy beach", "paper kites", "a country road",
          "an empty stadium", "thunderstorms", "a mountain lake", "old bridges", "a flower market",
          "a farm at dawn", "a quiet museum", "hot air balloons", "a bicycle trip", "a candle shop",
          "a rainforest", "ice skating", "a village square", "a lazy river", "cherry blossoms",
          "the first snow", "a small island", "a secret garden", "morning coffee", "a violin lesson",
          "a busy kitchen", "migrating birds", "a stone wall", "a sunflower field", "the harbor lights",
          "a wooden boat", "a city at night", "a picnic", "a mountain trail", "a tidy workshop",
          "a sleepy cat", "a rainy afternoon", "a lighthouse keeper", "tide pools", "a night train",
          "wild horses", "a pottery class", "a foggy valley", "a chess club", "a corner bookshop",
          "a spring meadow", "a frozen pond", "an orchard", "a desert oasis", "a harvest fair",
          "a tree house", "the northern lights", "a quiet chapel", "a dusty attic", "a sailing race",
          "a town library", "a street market")
VERBS = ("hums with", "is full of", "glows with", "smells of", "echoes with", "rests under", "fills with",
         "shimmers with", "wakes to", "waits for")
OBJECTS = ("soft light", "quiet voices", "warm colors", "distant bells", "gentle wind", "slow footsteps",
           "bright laughter", "fresh bread", "falling leaves", "cool water", "old stories", "steady rain")
ADVERBIALS = ("every single morning", "late in the evening", "long after sunset", "on most weekends",
              "when the season turns", "before the town wakes up", "in the middle of the day",
              "as the clouds drift by", "while the tide comes in", "for hours at a time")
INCLUDE_WORDS = ("lantern", "compass", "harvest", "whisper", "velvet", "echo", "marble", "ribbon", "meadow",
                 "thunder", "anchor", "feather", "crystal", "pebble", "orchard", "violet", "saffron",
                 "beacon", "ember", "willow", "cobblestone", "quill", "tapestry", "lullaby", "horizon",
                 "kettle", "satchel", "glimmer", "canopy", "riddle", "bramble", "mosaic", "parchment",
                 "sparrow", "tundra", "zephyr", "juniper", "prism", "sundial", "trellis")
END_PHRASES = ("Is there anything else I can help with?", "That is all for now.", "Hope this helps.",
               "Thanks for reading.", "Let me know if you have questions.", "Have a wonderful day.",
               "Any other questions?", "Until next time.", "Enjoy!", "The end.")
FILLER = ("Let me work through this carefully before giving a final answer.",
          "It helps to restate the task in my own words first, so nothing is missed.",
          "There are a few things worth keeping in mind here, and I will go through them one by one.",
          "First of all, it is important to read the request closely and consider every detail.",
          "Many people rush this kind of question, but a careful approach usually pays off.",
          "I will also double-check each step, because small slips are easy to make.",
          "Before answering, consider the context, the expected format and the level of detail.",
          "This is a classic example of a task that looks simple but rewards patience.",
          "Thinking about it from a few different angles gives a more complete picture.",
          "After weighing all of these considerations, the answer becomes clearer.",
          "To be thorough, I have gone over the reasoning twice and it seems consistent.",
          "In summary, taking everything above into account, here is my response.")
POLITE = ("", "", "", "Please: ", "Quick question. ", "Task: ", "Hi! ", "Could you help? ")


# ----------------------------------------------------------------------------------------------
# Tasks and checks
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One generated instruction with a correct answer and the check any answer must pass."""

    family: str
    key: str  # identity of the task without its phrasing: decides pool/held-out membership
    instruction: str
    answer: str
    check: dict


def _normalise(text: str) -> str:
    """Lenient answer text: outer whitespace, quotes, backticks and trailing punctuation removed."""
    text = text.strip()
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip("\"'`").rstrip(".!?;:").strip()
    return text


def _list_items(text: str, case_sensitive: bool) -> list[str]:
    items = [item for item in re.split(r"[,\s;]+", _normalise(text)) if item]
    items = [item.strip("\"'`.") for item in items]
    return items if case_sensitive else [item.lower() for item in items]


BULLET_LINE = re.compile(r"^\s*(?:[-*\u2022])\s+\S")


def verify(check: dict, answer: str) -> bool:
    """True when ``answer`` satisfies the task's check (lenient exact match or a format constraint)."""
    kind = check["kind"]
    if kind == "exact":
        got, want = _normalise(answer), _normalise(check["answer"])
        return got == want if check.get("case_sensitive") else got.lower() == want.lower()
    if kind == "list":
        case_sensitive = bool(check.get("case_sensitive"))
        want = check["answer"] if case_sensitive else [str(a).lower() for a in check["answer"]]
        return _list_items(answer, case_sensitive) == [str(a) for a in want]
    if kind == "bullets":
        return sum(bool(BULLET_LINE.match(line)) for line in answer.splitlines()) == check["n"]
    if kind == "lowercase":
        words = re.findall(r"[A-Za-z']+", answer)
        return bool(words) and answer == answer.lower() and len(words) >= check["min_words"]
    if kind == "include_word":
        return re.search(rf"\b{re.escape(check['word'])}\b", answer, flags=re.IGNORECASE) is not None
    if kind == "end_phrase":
        return answer.strip().strip('"').lower().endswith(check["phrase"].strip().lower())
    raise ValueError(f"unknown check kind '{kind}'")


def _phrase(rng: random.Random, templates: tuple[str, ...], **values: Any) -> str:
    return rng.choice(POLITE) + rng.choice(templates).format(**values)


def _arithmetic(rng: random.Random) -> Task:
    op = rng.choice("+-*")
    a, b = (rng.randint(2, 99), rng.randint(2, 99)) if op != "*" else (rng.randint(2, 40), rng.randint(2, 25))
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    word = {"+": "plus", "-": "minus", "*": "times"}[op]
    templates = ("What is {a} {op} {b}?", "Compute {a} {word} {b}.", "Calculate {a} {op} {b}. Reply with the number only.",
                 "What do you get for {a} {word} {b}?", "Solve: {a} {op} {b} = ?", "Give the result of {a} {op} {b}.")
    return Task("arithmetic", f"arithmetic:{a}{op}{b}", _phrase(rng, templates, a=a, b=b, op=op, word=word),
                str(value), {"kind": "exact", "answer": str(value)})


def _reverse(rng: random.Random) -> Task:
    word = rng.choice(WORDS)
    if rng.random() < 0.5:
        word = word + rng.choice(WORDS)
    templates = ("Reverse the word '{w}'.", "Write '{w}' backwards.", "Spell {w} in reverse order.",
                 "What is '{w}' reversed, letter by letter?", "Give the letters of \"{w}\" in reverse.")
    return Task("reverse", f"reverse:{word}", _phrase(rng, templates, w=word), word[::-1],
                {"kind": "exact", "answer": word[::-1]})


def _case(rng: random.Random) -> Task:
    words = rng.sample(WORDS, rng.randint(2, 4))
    op = rng.choice(("upper", "lower", "title"))
    source = " ".join(w.upper() if rng.random() < 0.5 else w.capitalize() for w in words) if op == "lower" \
        else " ".join(words)
    answer = {"upper": source.upper(), "lower": source.lower(), "title": source.title()}[op]
    name = {"upper": "upper case", "lower": "lower case", "title": "title case"}[op]
    templates = ("Convert '{s}' to {name}.", "Rewrite \"{s}\" in {name}.", "Put the phrase '{s}' into {name}.",
                 "Change '{s}' so that it is in {name}.", "Write {s} in {name} letters.")
    return Task("case", f"case:{op}:{source}", _phrase(rng, templates, s=source, name=name), answer,
                {"kind": "exact", "answer": answer, "case_sensitive": True})


def _sort_numbers(rng: random.Random) -> Task:
    numbers = rng.sample(range(1, 200), rng.randint(4, 7))
    descending = rng.random() < 0.4
    ordered = sorted(numbers, reverse=descending)
    listed = ", ".join(map(str, numbers))
    direction = "descending" if descending else "ascending"
    templates = ("Sort these numbers in {d} order: {l}.", "Arrange {l} in {d} order.",
                 "Put the following numbers in {d} order: {l}", "Order the list {l} ({d}).")
    answer = ", ".join(map(str, ordered))
    return Task("sort_numbers", f"sort_numbers:{direction}:{listed}", _phrase(rng, templates, d=direction, l=listed),
                answer, {"kind": "list", "answer": [str(n) for n in ordered]})


def _sort_words(rng: random.Random) -> Task:
    words = rng.sample(WORDS, rng.randint(3, 6))
    listed = ", ".join(words)
    templates = ("Sort these words alphabetically: {l}.", "Put {l} in alphabetical order.",
                 "Alphabetize the following words: {l}", "Arrange the words {l} from A to Z.")
    ordered = sorted(words)
    return Task("sort_words", f"sort_words:{listed}", _phrase(rng, templates, l=listed), ", ".join(ordered),
                {"kind": "list", "answer": ordered})


def _count_letters(rng: random.Random) -> Task:
    word = rng.choice(WORDS) + (rng.choice(WORDS) if rng.random() < 0.5 else "")
    letter = rng.choice(word) if rng.random() < 0.85 else rng.choice(string.ascii_lowercase)
    count = word.count(letter)
    templates = ("How many times does the letter '{c}' appear in '{w}'?", "Count the letter {c} in the word {w}.",
                 "In \"{w}\", how many '{c}' characters are there?", "Count how often '{c}' occurs in '{w}'.")
    return Task("count_letters", f"count_letters:{letter}:{word}", _phrase(rng, templates, c=letter, w=word),
                str(count), {"kind": "exact", "answer": str(count)})


def _count_words(rng: random.Random) -> Task:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
    sentence = " ".join(words)
    templates = ("How many words are in this sentence: '{s}'?", "Count the words in \"{s}\".",
                 "Tell me the number of words in: {s}", "How many words does '{s}' contain?")
    return Task("count_words", f"count_words:{sentence}", _phrase(rng, templates, s=sentence), str(len(words)),
                {"kind": "exact", "answer": str(len(words))})


def _bullets(rng: random.Random) -> Task:
    category = rng.choice(sorted(CATEGORIES))
    n = rng.randint(2, 6)
    purpose = rng.choice(PURPOSES)
    items = rng.sample(CATEGORIES[category], n)
    templates = ("List exactly {n} {c} {p}, as bullet points.", "Name {n} {c} {p}. Answer in exactly {n} bullet points.",
                 "Give me exactly {n} {c} {p}; use a markdown bullet list.",
                 "I need {n} {c} {p}. Format them as exactly {n} bullet points.")
    answer = "\n".join(f"- {item}" for item in items)
    return Task("format_bullets", f"format_bullets:{category}:{n}:{purpose}",
                _phrase(rng, templates, n=n, c=category, p=purpose), answer, {"kind": "bullets", "n": n})


def _sentence(rng: random.Random, topic: str) -> str:
    return f"{topic} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}"


def _lowercase(rng: random.Random) -> Task:
    topic = rng.choice(TOPICS)
    min_words = rng.randint(8, 14)
    text = _sentence(rng, topic)
    while len(text.split()) < min_words:
        text += f", and {rng.choice(OBJECTS)} {rng.choice(ADVERBIALS)}"
    templates = ("Write a sentence of at least {k} words about {t}, all in lowercase letters.",
                 "Describe {t} in at least {k} words. Your entire answer must be in lowercase.",
                 "In lowercase only (no capital letters), write at least {k} words about {t}.",
                 "Say something about {t} using at least {k} words and no capital letters.")
    return Task("format_lowercase", f"format_lowercase:{topic}:{min_words}",
                _phrase(rng, templates, t=topic, k=min_words), text.lower() + ".",
                {"kind": "lowercase", "min_words": min_words})


def _include_word(rng: random.Random) -> Task:
    topic = rng.choice(TOPICS)
    word = rng.choice(INCLUDE_WORDS)
    templates = ("Write one sentence about {t} that includes the word '{w}'.",
                 "Describe {t} in a sentence; be sure to use the word \"{w}\".",
                 "Write a short sentence on {t}. It must contain the word {w}.",
                 "Using the word '{w}', write a sentence about {t}.")
    answer = _sentence(rng, topic).capitalize() + f", like a {word}."
    return Task("format_include_word", f"format_include_word:{topic}:{word}",
                _phrase(rng, templates, t=topic, w=word), answer, {"kind": "include_word", "word": word})


def _end_phrase(rng: random.Random) -> Task:
    topic = rng.choice(TOPICS)
    phrase = rng.choice(END_PHRASES)
    templates = ("Write a sentence about {t}. End your answer with the exact phrase '{p}'",
                 "Describe {t} briefly and finish your reply with \"{p}\"",
                 "Tell me about {t} in one sentence. Your response must end with: {p}",
                 "Write one line on {t}; the last words must be exactly '{p}'")
    answer = _sentence(rng, topic).capitalize() + ". " + phrase
    return Task("format_end_phrase", f"format_end_phrase:{topic}:{phrase}",
                _phrase(rng, templates, t=topic, p=phrase), answer, {"kind": "end_phrase", "phrase": phrase})


FAMILIES: dict[str, Callable[[random.Random], Task]] = {
    "arithmetic": _arithmetic, "reverse": _reverse, "case": _case, "sort_numbers": _sort_numbers,
    "sort_words": _sort_words, "count_letters": _count_letters, "count_words": _count_words,
    "format_bullets": _bullets, "format_lowercase": _lowercase, "format_include_word": _include_word,
    "format_end_phrase": _end_phrase,
}


def is_heldout_key(key: str) -> bool:
    """Whether a task key belongs to the held-out benchmark (a fixed hash split, independent of seeds)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % HELDOUT_BUCKETS == 0


def _draw_task(rng: random.Random, heldout: bool, used: set[str]) -> Task:
    """A task of a uniformly drawn family, on the requested side of the split, with an unused key."""
    for _ in range(MAX_TRIES):
        task = FAMILIES[rng.choice(tuple(FAMILIES))](rng)
        if is_heldout_key(task.key) == heldout and task.key not in used:
            used.add(task.key)
            return task
    raise ChaseError(f"could not draw a new distinct task after {MAX_TRIES} tries: ask for fewer rows")


# ----------------------------------------------------------------------------------------------
# Corruptions: each returns a bad answer, or None when the task cannot carry that corruption
# ----------------------------------------------------------------------------------------------
def _wrong(task: Task, rng: random.Random) -> str | None:
    check, answer = task.check, task.answer
    if check["kind"] == "exact" and answer.lstrip("-").isdigit():
        return str(int(answer) + rng.choice((-3, -2, -1, 1, 2, 3, 10)))
    if task.family == "reverse":
        letters = list(answer)
        i = rng.randrange(len(letters) - 1)
        letters[i], letters[i + 1] = letters[i + 1], letters[i]
        return "".join(letters) if letters != list(answer) else answer[::-1]
    if task.family == "case":
        return rng.choice([f(answer) for f in (str.lower, str.upper, str.title, str.swapcase) if f(answer) != answer])
    if check["kind"] == "list":
        items = answer.split(", ")
        return ", ".join(items[::-1]) if rng.random() < 0.5 else ", ".join(items[1:] + items[:1])
    if check["kind"] == "bullets":
        lines = answer.splitlines()
        return "\n".join(lines[:-1]) if len(lines) > 2 and rng.random() < 0.5 else "\n".join(lines + ["- other"])
    if check["kind"] == "lowercase":
        return answer[0].upper() + answer[1:].title()
    if check["kind"] == "include_word":
        return answer.replace(f"like a {check['word']}", f"like a {rng.choice(WORDS)}")
    if check["kind"] == "end_phrase":
        return answer[: -len(check["phrase"])].rstrip() + " " + rng.choice(
            [p for p in END_PHRASES if p != check["phrase"]])
    return None


def _truncated(task: Task, rng: random.Random) -> str | None:
    if len(task.answer) < 2:
        return None
    cut = max(1, int(len(task.answer) * rng.uniform(0.3, 0.6)))
    return task.answer[:cut].rstrip() or None


def _long_wrong(task: Task, rng: random.Random) -> str | None:
    wrong = _wrong(task, rng)
    if wrong is None:
        return None
    sentences = list(FILLER)
    rng.shuffle(sentences)
    filler = ""
    for sentence in sentences:
        filler = f"{filler} {sentence}".strip()
        if len(filler) >= MIN_LONG_WRONG_CHARS:
            break
    if task.check["kind"] in ("exact", "list"):
        return f"{filler}\n\nSo the final answer is: {wrong}"
    return f"{filler}\n\n{wrong}"


def _corrupt(kind: str, task: Task, rng: random.Random, other: Task | None) -> str | None:
    if kind == "wrong_answer":
        return _wrong(task, rng)
    if kind == "truncated_answer":
        return _truncated(task, rng)
    if kind == "long_wrong_answer":
        return _long_wrong(task, rng)
    if kind == "other_instruction_answer":
        return other.answer if other is not None and other.family != task.family else None
    raise ValueError(kind)


NEAR_DUPLICATE_EDITS = (
    lambda text: text + " Thanks!",
    lambda text: "Please, " + text[0].lower() + text[1:],
    lambda text: text.rstrip(".?!") + ".." if text.endswith(".") else text + " Thank you.",
    lambda text: text.replace(" ", "  ", 1),
    lambda text: text + " (quick answer please)",
)


# ----------------------------------------------------------------------------------------------
# Pool and held-out set
# ----------------------------------------------------------------------------------------------
def corruption_counts(n: int, fraction: float) -> dict[str, int]:
    """Exact row counts by label: round(n * fraction) corrupted, split evenly over the five types
    (the remainder goes to the first types in ``CORRUPTIONS`` order)."""
    if n <= 0:
        raise ChaseError(f"--n must be positive, got {n}")
    if not 0.0 <= fraction < 1.0:
        raise ChaseError(f"--corrupt must be a fraction in [0, 1), got {fraction}")
    corrupted = round(n * fraction)
    base, extra = divmod(corrupted, len(CORRUPTIONS))
    counts = {kind: base + (i < extra) for i, kind in enumerate(CORRUPTIONS)}
    counts = {"none": n - corrupted, **counts}
    if counts["near_duplicate"] and not counts["none"]:
        raise ChaseError("near_duplicate rows need at least one clean row to copy: lower --corrupt")
    return counts


def _meta(task: Task, corruption: str, **extra: Any) -> dict:
    return {"family": task.family, "corruption": corruption, "check": task.check, "task_key": task.key,
            "reference_answer": task.answer, **extra}


def generate_records(n: int, fraction: float, seed: int) -> list[Record]:
    """The audit pool's records: exact counts per label, shuffled with ``seed``, all ids distinct."""
    counts = corruption_counts(n, fraction)
    rng = random.Random(seed)
    used: set[str] = set()
    records: list[Record] = []
    clean: list[Record] = []
    for label in ("none",) + CORRUPTIONS[:-1]:
        for _ in range(counts[label]):
            for _ in range(MAX_TRIES):
                task = _draw_task(rng, heldout=False, used=used)
                if label == "none":
                    record = Record(task.instruction, task.answer, SOURCE, _meta(task, label))
                    clean.append(record)
                    break
                other = FAMILIES[rng.choice(tuple(FAMILIES))](rng)
                bad = _corrupt(label, task, rng, other)
                if bad is not None and not verify(task.check, bad):
                    record = Record(task.instruction, bad, SOURCE, _meta(task, label))
                    break
                used.discard(task.key)
            else:
                raise ChaseError(f"could not generate a '{label}' row after {MAX_TRIES} tries")
            records.append(record)
    seen_inputs = {r.input for r in records}
    for _ in range(counts["near_duplicate"]):
        for _ in range(MAX_TRIES):
            original = rng.choice(clean)
            copy = rng.choice(NEAR_DUPLICATE_EDITS)(original.input)
            if copy not in seen_inputs:
                break
        else:
            raise ChaseError(f"could not make a distinct near-duplicate after {MAX_TRIES} tries")
        seen_inputs.add(copy)
        meta = {**original.meta, "corruption": "near_duplicate", "duplicate_of": original.id}
        records.append(Record(copy, original.target, SOURCE, meta))
    rng.shuffle(records)
    return records


def write_synth_pool(n: int, fraction: float, seed: int, out: str | Path) -> dict[str, Any]:
    """Write the audit pool as a pool Parquet file (same schema as ``chase pool build``) plus manifest."""
    started = time.time()
    out = Path(out)
    records = generate_records(n, fraction, seed)
    rows = [record.as_row() for record in records]
    if len({row["id"] for row in rows}) != len(rows):
        raise ChaseError("internal: the audit pool generated duplicate ids")
    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=POOL_SCHEMA), tmp)
    summary = {
        "rows": len(rows),
        "corruption": {label: sum(r.meta["corruption"] == label for r in records) for label in LABELS},
        "family": {family: sum(r.meta["family"] == family for r in records) for family in FAMILIES},
    }
    write_manifest(out, kind="pool", inputs={"synth": True}, config={"n": n, "corrupt": fraction, "seed": seed},
                   started=started, extra={"counts": summary})
    return summary


def heldout_set(n: int, seed: int) -> list[dict]:
    """``n`` fresh tasks of the pool's families for the ``synth_heldout`` benchmark; their task keys
    fall in the held-out hash bucket, so no pool (whatever its seed) contains them."""
    if n <= 0:
        raise ChaseError(f"the held-out set size must be positive, got {n}")
    rng = random.Random(f"heldout-{seed}")
    used: set[str] = set()
    items, instructions = [], set()
    while len(items) < n:
        task = _draw_task(rng, heldout=True, used=used)
        if task.instruction in instructions:
            continue
        instructions.add(task.instruction)
        items.append({"instruction": task.instruction, "dataset": HELDOUT_DATASET, "family": task.family,
                      "check": task.check, "reference": task.answer, "task_key": task.key})
    return items


def score_heldout(outputs: list[dict], items: Iterable[dict]) -> list[dict]:
    """Per-prompt exact match (or constraint check) of model outputs ``{instruction, output}`` on the
    held-out items, matched by instruction text; every item must have an output."""
    by_instruction: dict[str, str] = {}
    for number, row in enumerate(outputs, start=1):
        if "instruction" not in row or "output" not in row:
            raise ChaseError(f"held-out output {number}: needs fields 'instruction' and 'output'")
        by_instruction[row["instruction"]] = row["output"] or ""
    scored = []
    for item in items:
        if item["instruction"] not in by_instruction:
            raise ChaseError(f"no output for held-out instruction: {item['instruction']!r}")
        output = by_instruction[item["instruction"]]
        scored.append({"instruction": item["instruction"], "family": item["family"], "output": output,
                       "score": float(verify(item["check"], output))})
    return scored


def corruption_rates(pool_frame, ids: Iterable[str]) -> dict[str, float]:
    """Share of each label (``none`` and every corruption type) among the rows of ``ids``."""
    ids = list(ids)
    labels = dict(zip(pool_frame["id"], (json.loads(m).get("corruption") for m in pool_frame["meta"])))
    missing = [i for i in ids if i not in labels]
    if missing:
        raise ChaseError(f"{len(missing)} selected ids are not in the pool (first: {missing[0]})")
    if not ids:
        return {label: 0.0 for label in LABELS}
    return {label: sum(labels[i] == label for i in ids) / len(ids) for label in LABELS}


def has_corruption_labels(pool_frame) -> bool:
    """Whether a pool carries ``meta.corruption`` labels (the audit pool does)."""
    return len(pool_frame) > 0 and "corruption" in json.loads(pool_frame["meta"].iloc[0])
