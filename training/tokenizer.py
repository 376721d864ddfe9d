"""The project's WordPiece tokenizers: the normaliser, the training of a vocabulary on review text,
and what both the trained and the tiny test tokenizer share (special tokens, BERT's [CLS] … [SEP]
template, the transformers class AutoTokenizer loads them as), so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Characters people repeat for emphasis (ㅋㅋㅋㅋ, ㅠㅠㅠ, !!!!): runs of three or more fold to two,
# so the vocabulary is not spent on run lengths and the signal survives.
REPEATED_CHARS = "ㅋㅎㅠㅜㅡㄷㄱㅇㅉㅗ.!?~^;,-=*♥♡★☆♪"


def as_bert_tokenizer(
    tokenizer: Tokenizer, max_tokens: int, *, second_segment_type: int
) -> PreTrainedTokenizerFast:
    """`tokenizer` with BERT's template, as a PreTrainedTokenizerFast.

    `second_segment_type` is the token type of a pair's second text: 1 for models with two token
    types, 0 for models with one (whose single token-type row cannot look up a 1).
    """
    from transformers import PreTrainedTokenizerFast

    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    second = f":{second_segment_type}" if second_segment_type else ""
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair=f"[CLS] $A [SEP] $B{second} [SEP]{second}",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_tokens,
    )


def build_normalizer() -> normalizers.Normalizer:
    """NFC, runs of REPEATED_CHARS folded to two, lower case."""
    folds = [normalizers.Replace(Regex(f"{_escape(c)}{{3,}}"), c * 2) for c in REPEATED_CHARS]
    return normalizers.Sequence([normalizers.NFC(), *folds, normalizers.Lowercase()])


def _escape(char: str) -> str:
    return "\\" + char if char in ".?^*-" else char


def train_tokenizer(
    texts: list[str], vocab_size: int, max_tokens: int, out_dir: Path
) -> PreTrainedTokenizerFast:
    """WordPiece over syllables, split on white space and punctuation, saved for AutoTokenizer."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=50))
    tokenizer.normalizer = build_normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=3,
        special_tokens=SPECIAL_TOKENS,
        limit_alphabet=3000,
        show_progress=True,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    fast = as_bert_tokenizer(tokenizer, max_tokens, second_segment_type=0)
    fast.save_pretrained(out_dir)
    return fast


def default_max_tokens(tokenizer, config) -> int:
    """The tokenizer's own limit when it has a real one, never past the position embeddings."""
    positions = getattr(config, "max_position_embeddings", 512)
    limit = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else positions
    return int(min(limit, positions))


def vocabulary(directory: str | Path) -> dict[str, int]:
    """The token → id map of the tokenizer saved in a checkpoint or tokenizer directory: two
    models read the same ids only if theirs are equal."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(directory).get_vocab()
