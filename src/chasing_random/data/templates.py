"""Prompt templates, one module for every stage (scoring, training, generation).

A template turns an input into the prompt text that precedes the response, says what separates
prompt and response in training text, and names the short "direct" prefix that IFD scores the
response after when the instruction is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chasing_random.errors import ChaseError
from chasing_random.store import read_manifest

PAPER_PROMPT = ("Below is an instruction that is optionally paired with some additional context. "
                "Respond appropriately follows using the context (if any) \n \n ### Instruction: {input} \n ### Response:")
ALPACA_PROMPT = ("Below is an instruction that describes a task. "
                 "Write a response that appropriately completes the request.\n\n"
                 "### Instruction:\n{input}\n\n### Response:\n")


@dataclass(frozen=True)
class Template:
    """A named prompt format.

    ``prompt_format`` holds ``{input}``; ``separator`` goes between prompt and response in
    training text; ``direct_prefix`` is what IFD's unconditioned pass puts before the response.
    ``chat`` uses the tokenizer's own chat template instead of ``prompt_format``.
    """

    name: str
    prompt_format: str
    separator: str = ""
    direct_prefix: str = ""
    chat: bool = False

    def prompt(self, input_text: str, tokenizer=None) -> str:
        """The text a model sees before it answers ``input_text``."""
        if self.chat:
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise ChaseError("template 'chat' needs a tokenizer that has a chat template")
            return tokenizer.apply_chat_template([{"role": "user", "content": input_text}],
                                                 tokenize=False, add_generation_prompt=True)
        return self.prompt_format.replace("{input}", input_text)

    def completion(self, target_text: str, tokenizer=None) -> str:
        """The training text that follows the prompt: separator, response and end marker for chat."""
        if self.chat:
            end = getattr(tokenizer, "eos_token", None) or ""
            return target_text + end
        return self.separator + target_text

    def text(self, input_text: str, target_text: str, tokenizer=None) -> str:
        """Prompt and response as one training text."""
        return self.prompt(input_text, tokenizer) + self.completion(target_text, tokenizer)


TEMPLATES: dict[str, Template] = {
    # The study's training template, typos included; inference prompts end after "### Response:".
    "paper": Template("paper", PAPER_PROMPT, separator=" ", direct_prefix="### Response:"),
    "alpaca": Template("alpaca", ALPACA_PROMPT, separator="", direct_prefix="### Response:\n"),
    # Cherry's "wiz" prompt: conditioned text {instruction}\n\n### Response:{response}.
    "cherry": Template("cherry", "{input}\n\n### Response:", separator="", direct_prefix="### Response:"),
    # Superfiltering: no template, the instruction and a newline.
    "none": Template("none", "{input}\n", separator="", direct_prefix=""),
    "chat": Template("chat", "", chat=True, direct_prefix=""),
}


def get_template(name: str) -> Template:
    """The template with this name, or an error listing the valid names."""
    if name not in TEMPLATES:
        raise ChaseError(f"unknown template '{name}'; valid templates: {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def model_template(model_path: str, tokenizer, template: str | None) -> str:
    """The template name: explicit, else the model manifest's, else chat (if the tokenizer has one) or paper."""
    if template is not None:
        return get_template(template).name
    manifest = read_manifest(model_path) if Path(model_path).is_dir() else None
    if manifest and manifest.get("template"):
        return manifest["template"]
    return "chat" if getattr(tokenizer, "chat_template", None) else "paper"
