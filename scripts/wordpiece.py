"""What the project's two WordPiece tokenizers share: their special tokens, BERT's
[CLS] … [SEP] template, and the transformers class that AutoTokenizer loads them as.

`scripts/train_baseline.py` trains its vocabulary on the review text; `scripts/tiny_model.py`
builds a fixed one for tests. Both wrap the result here, so the two cannot drift apart.
"""

from __future__ import annotations

from tokenizers import Tokenizer
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def as_bert_tokenizer(
    tokenizer: Tokenizer, max_tokens: int, *, second_segment_type: int
) -> PreTrainedTokenizerFast:
    """`tokenizer` with BERT's template, as a PreTrainedTokenizerFast.

    `second_segment_type` is the token type of a pair's second text: 1 for models with two token
    types, 0 for models with one (whose single token-type row cannot look up a 1).
    """
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
