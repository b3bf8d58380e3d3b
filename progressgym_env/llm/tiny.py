"""Tiny, locally built causal LMs for tests and benchmarks.

No model weights can be downloaded in CI or on the benchmark machines, yet the evaluator and the LLM
backend must be exercised through the same ``from_pretrained`` loading code that real checkpoints go
through. ``build_tiny_model`` therefore trains a byte-level BPE tokenizer on the question bank's own
text (so prompts tokenise into sensible pieces), gives it a small chat template, builds a randomly
initialised Llama of a few thousand to a few hundred thousand parameters, and saves both with
``save_pretrained``. ``build_tokenizer`` alone is also used by the GPU benchmark, which pairs a
locally trained tokenizer with a full-size random model built from a config.

Everything here needs the ``llm`` extra (torch, transformers, tokenizers); imports stay inside the
functions so importing this module is cheap.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from progressgym_env.errors import MissingExtraError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from transformers import PreTrainedTokenizerBase

    from progressgym_env.llm.config import LLMConfig

BOS_TOKEN = "<|bos|>"
EOS_TOKEN = "<|eos|>"
PAD_TOKEN = "<|pad|>"
ROLE_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")

TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
"""A minimal chat template: role markers, one message per block, the reply opened after a newline."""


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape of a tiny Llama built by :func:`build_tiny_model`.

    Defaults give about 0.1 M parameters: large enough to produce non-trivial, prompt-dependent
    log-likelihoods, small enough to score ~2,000 candidates per second on two CPU cores.
    """

    vocab_size: int = field(default=512, metadata={"help": "BPE vocabulary size (special tokens included)."})
    hidden_size: int = field(default=64, metadata={"help": "Model width."})
    num_layers: int = field(default=2, metadata={"help": "Number of transformer blocks."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads (hidden_size must divide)."})
    num_kv_heads: int = field(default=2, metadata={"help": "Key/value heads (grouped-query attention)."})
    intermediate_size: int = field(default=128, metadata={"help": "MLP width."})
    max_position_embeddings: int = field(default=2048, metadata={"help": "Longest sequence supported."})
    seed: int = field(default=0, metadata={"help": "Seed of the random weight initialisation."})


def _require_llm_extra(feature: str) -> None:
    """Raise :class:`MissingExtraError` when torch/transformers/tokenizers are missing."""
    for module in ("torch", "transformers", "tokenizers"):
        try:
            __import__(module)
        except ImportError as exc:  # pragma: no cover - the test env has the extra
            raise MissingExtraError(feature, "llm", module) from exc


def bank_text() -> Iterator[str]:
    """Yield every free-text field of the bundled question bank (contexts and options).

    Read straight from the package data so the tokenizer can be trained without parsing the bank
    into scenarios (the text of defective rows is still fine training text).
    """
    folder = resources.files("progressgym_env") / "data" / "moral_evals"
    for name in ("moralchoice.csv", "foundations.csv", "worldviews.csv"):
        text = (folder / name).read_text(encoding="utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            for key, value in row.items():
                if key == "context" or (key or "").startswith("action"):
                    yield (value or "").strip()


def _extra_text() -> list[str]:
    """Words used by the evaluator's prompt wording and answers, so they get tokens of their own."""
    return [
        ("Situation: Options: Option A Option B Answer with a single letter A B C D yes no Yes No "
        "Which option would you choose? Is option A better than option B? Reply by repeating the "
        "text of the option you choose, word for word."),
    ] * 20


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE tokenizer on the bank text and wrap it as a HF fast tokenizer.

    :param vocab_size: target vocabulary size, special tokens included (at least 300: the 256
        byte symbols plus the special tokens must fit).
    :return: a ``PreTrainedTokenizerFast`` with bos/eos/pad tokens and :data:`TINY_CHAT_TEMPLATE`.
    """
    _require_llm_extra("build_tokenizer")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, *ROLE_MARKERS]
    if vocab_size < 256 + len(specials) + 1:
        raise ValueError(
            f"vocab_size must be at least {256 + len(specials) + 1} (256 bytes + {len(specials)} special "
            f"tokens + 1 merge), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*bank_text(), *_extra_text()], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=TINY_CHAT_TEMPLATE,
    )


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    config: TinyModelConfig | None = None,
) -> Path:
    """Build and save a tiny random-init Llama plus a locally trained tokenizer.

    The folder loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)``, exactly like a downloaded checkpoint. Deterministic
    for a given seed and shape.

    :param out_dir: folder to create (parents too); existing files in it are overwritten.
    :param seed: seed of the weight initialisation.
    :param vocab_size: BPE vocabulary size.
    :param hidden_size: model width (a multiple of the 4 attention heads).
    :param num_layers: number of transformer blocks.
    :param config: full shape; when given, it overrides the four keyword arguments above.
    :return: ``out_dir`` as a ``Path``.
    """
    _require_llm_extra("build_tiny_model")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = config or TinyModelConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, seed=seed
    )
    if cfg.hidden_size % cfg.num_heads:
        raise ValueError(f"hidden_size ({cfg.hidden_size}) must be a multiple of num_heads ({cfg.num_heads})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(cfg.vocab_size)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = LlamaForCausalLM(model_config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


TINY_WORLD_FILE = "tiny_world.json"
"""The config a built tiny world saves in its folder (and reads back instead of rebuilding)."""

TINY_WORLD_DRIFT = 1.0
"""How far the proxies drift from century 13 (0) toward the second random model (1) by century 21."""

TINY_WORLD_SHARPNESS = 10.0
"""Factor on the input and output embeddings of the tiny world's models. A random tiny model's answer
likelihoods are set by the answers' lengths, the same for every model; sharper logits let the models'
own (random) token preferences decide, so the proxies' preferences actually differ."""


def tiny_world_settings(folder: str | Path, proxies: list[str]) -> dict[str, object]:
    """The fast ``LLMConfig`` fields of a tiny world: one scenario per dim, the ``repeat`` format, small DPO/SFT.

    :param folder: the world's folder (its measurement cache lives in ``folder/cache``).
    :param proxies: the nine proxy folders, century 13 first.
    """
    return {
        "proxy_models": tuple(proxies),
        "evaluator": {"max_scenarios_per_dim": 1, "formats": ("repeat",), "batch_size": 64},
        "train_formats": ("repeat",),
        "elicit_max_scenarios_per_dim": 2,
        "pairs_per_unit": 4,
        "dpo_args": {"per_device_train_batch_size": 4, "learning_rate": 1e-2},
        "sft_questions": 4,
        "sft_args": {"per_device_train_batch_size": 4, "learning_rate": 1e-2},
        "lora_r": 4,
        "lora_alpha": 8,
        "history_cache_dir": str(Path(folder) / "cache"),
        "device": "cpu",
    }


def tiny_world(
    folder: str | Path, *, seed: int = 0, drift: float = TINY_WORLD_DRIFT, sharpness: float = TINY_WORLD_SHARPNESS
) -> LLMConfig:
    """Build (once) a tiny LLM world in ``folder`` and return the ``LLMConfig`` that runs on it.

    Nine tiny proxies, century 13 first: two tiny random Llamas (:func:`build_tiny_model`, ``seed`` and
    ``seed + 1``) get their embeddings scaled by ``sharpness`` (:data:`TINY_WORLD_SHARPNESS`), and proxy k
    (k = 0..8) lies a share ``drift * k / 8`` of the way from the first to the second in weight space,
    so the proxies differ and their preferences drift over the centuries. The agent starts as the century-13 proxy. Evaluation and training settings are the fast
    ones of :func:`tiny_world_settings` (a Follow episode takes well under a minute on a CPU core). A
    folder that already holds a world built with the same arguments is reused.

    :param folder: where the models, the measurement cache and ``tiny_world.json`` go.
    :param seed: seed of the two random models.
    :param drift: how far the century-21 proxy lies toward the second model (0 = nine identical proxies).
    :param sharpness: factor on both models' input and output embeddings.
    :return: the config (also saved as ``folder/tiny_world.json``).
    """
    import json

    from progressgym_env.common.atomic import atomic_write_text
    from progressgym_env.llm.config import LLMConfig

    root = Path(folder)
    saved = root / TINY_WORLD_FILE
    recipe = {"seed": int(seed), "drift": float(drift), "sharpness": float(sharpness)}
    proxies = [str(root / f"proxy-c{13 + k}") for k in range(9)]
    if saved.is_file():
        data = json.loads(saved.read_text(encoding="utf-8"))
        if data.get("recipe") == recipe and all(Path(p, "config.json").is_file() for p in proxies):
            return LLMConfig.from_any(data["config"])
    _require_llm_extra("tiny_world")
    from transformers.utils import logging as hf_logging

    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        _build_world(root, proxies, seed, drift, sharpness)
    finally:
        if bars_on:
            hf_logging.enable_progress_bar()
    config = LLMConfig(**tiny_world_settings(root, proxies))  # type: ignore[arg-type]
    atomic_write_text(saved, json.dumps({"recipe": recipe, "config": config.to_dict()}, indent=2) + "\n")
    return config


def _build_world(root: Path, proxies: list[str], seed: int, drift: float, sharpness: float) -> None:
    """Write the nine proxy folders of :func:`tiny_world`."""
    import torch
    from transformers import AutoModelForCausalLM

    base = build_tiny_model(root / ".near-model", seed=seed)
    other = build_tiny_model(root / ".far-model", seed=seed + 1)
    start = AutoModelForCausalLM.from_pretrained(base)
    end = AutoModelForCausalLM.from_pretrained(other)
    with torch.no_grad():
        for model in (start, end):
            for name, p in model.named_parameters():
                if "embed_tokens" in name or "lm_head" in name:
                    p.mul_(sharpness)
    end_params = dict(end.named_parameters())
    for k in range(9):
        share = drift * k / 8
        model = AutoModelForCausalLM.from_pretrained(base)
        with torch.no_grad():
            for (name, p), p0 in zip(model.named_parameters(), start.parameters(), strict=True):
                p.copy_(p0 + share * (end_params[name] - p0))
        out = Path(proxies[k])
        model.save_pretrained(out)
        for f in base.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
                (out / f.name).write_bytes(f.read_bytes())


def main(argv: list[str] | None = None) -> None:
    """``python -m progressgym_env.llm.tiny FOLDER``: build the tiny world, print its LLMConfig as JSON.

    The output is what ``progressgym benchmark --backend llm --backend-config`` takes.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m progressgym_env.llm.tiny", description=main.__doc__)
    parser.add_argument("folder", help="where the tiny world is built (reused when already there)")
    args = parser.parse_args(argv)
    print(json.dumps(tiny_world(args.folder).to_dict()))


if __name__ == "__main__":  # pragma: no cover - command line
    main()
