"""A tiny BERT sentiment checkpoint built in seconds, for tests and dry runs of the build pipeline.

The model is fitted for a few steps on a handful of Korean reviews so that its predictions are
decisive (a purely random model's near-equal logits would make FP32 vs INT8 agreement a coin toss).
Like a fine-tuned checkpoint it carries a rating head (training.rating_head), fitted on the
reviews' star ratings over the fitted encoder's pooled output and calibrated on them, unless built
without one (as a hub checkpoint is).
"""

from __future__ import annotations

import contextlib
import gzip
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from training.data import Review
from training.options import TinyOptions
from training.rating_head import RatingHead, fit_calibration
from training.tokenizer import SPECIAL_TOKENS, as_bert_tokenizer

COLUMNS = ("review_id", "movie_id", "rating", "date", "text")

# (text, star rating): enough variety for a WordPiece vocabulary and three separable classes.
SAMPLE_REVIEWS: list[tuple[str, int]] = [
    ("정말 재밌는 영화였어요 ㅋㅋㅋㅋㅋ", 10),
    ("배우들 연기가 최고다 강력 추천합니다", 10),
    ("감동적이고 아름다운 영화 또 보고 싶다", 10),
    ("올해 본 영화 중에 최고 완전 명작", 9),
    ("음악도 좋고 영상도 좋고 다 좋았다", 9),
    ("가족과 함께 보기 좋은 따뜻한 영화", 9),
    ("너무 재밌어서 시간 가는 줄 몰랐어요", 10),
    ("최고의 영화 인생 영화 등극", 10),
    ("그냥 그랬다 볼만은 한데 기대는 하지 마", 6),
    ("나쁘지 않은데 중간이 좀 지루함", 6),
    ("평범한 영화 무난하게 볼만함", 7),
    ("스토리는 그럭저럭 액션은 괜찮음", 7),
    ("기대보다는 별로였지만 나쁘진 않았다", 5),
    ("보통이다 특별한 건 없음", 5),
    ("무난무난 시간 때우기용", 6),
    ("그럭저럭 볼만한 정도 평범함", 7),
    ("돈 아깝다 정말 최악의 영화", 1),
    ("지루하고 재미없어요 시간 낭비", 2),
    ("스토리가 엉망이고 연기도 어색함 ㅠㅠㅠㅠ", 1),
    ("이걸 영화라고 만들었나 실망이다", 2),
    ("보다가 잠들었다 너무 지루해", 3),
    ("최악 최악 최악 절대 보지 마세요", 1),
    ("연출도 별로 배우도 별로 다 별로", 3),
    ("재미없고 유치하고 돈 아까움", 4),
]


def sample_reviews(copies: int = 1) -> list[Review]:
    """SAMPLE_REVIEWS as Review rows (repeated `copies` times with distinct ids)."""
    return [
        Review(
            review_id=i * 1000 + n, movie_id=100 + n % 3, rating=rating, date="24.01.01", text=text
        )
        for i in range(copies)
        for n, (text, rating) in enumerate(SAMPLE_REVIEWS)
    ]


def write_sample_reviews(path: str | Path, copies: int = 1) -> Path:
    """The sample reviews as a review TSV (gzip'd when the name ends in .gz): a tiny dev set."""
    path = Path(path)
    lines = ["\t".join(COLUMNS)] + [
        f"{r.review_id}\t{r.movie_id}\t{r.rating}\t{r.date}\t{r.text}"
        for r in sample_reviews(copies)
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def build_tokenizer(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer with the project's normalisation (NFC, repeated characters folded).

    Its vocabulary is every word and character of `texts`, sorted: `tokenizers`' WordPiece trainer
    breaks ties in hash order, and tests need the same tokenizer (so the same model) every run.
    """
    normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"(.)\1{2,}"), "$1$1")]
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = {
        word
        for text in texts
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    }
    characters = sorted({character for word in words for character in word})
    pieces = [*SPECIAL_TOKENS, *sorted(words), *characters, *(f"##{c}" for c in characters)]
    vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    return as_bert_tokenizer(tokenizer, 64, second_segment_type=1)


def build_tiny_checkpoint(
    out_dir: str | Path,
    labels: Sequence[str] = ("negative", "neutral", "positive"),
    *,
    generic_labels: bool = False,
    hidden: int = 32,
    layers: int = 2,
    train_steps: int = 80,
    token_types: int = 2,
    seed: int = 0,
    rating_head: bool = True,
) -> Path:
    """Save a tiny BertForSequenceClassification + tokenizer as a Hugging Face checkpoint directory.

    `labels` is what each logit means; with `generic_labels` the config only says LABEL_0,
    LABEL_1, ... (like many hub checkpoints), so a build has to be told the label map. A
    two-class model learns even odds for the neutral reviews, as a real one is unsure of them.
    With `rating_head` the directory also holds a calibrated rating head, as a fine-tuned
    checkpoint does; without it the checkpoint's bundles have no stars.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    reviews = sample_reviews()
    tokenizer = build_tokenizer([r.text for r in reviews])
    id2label = {i: (f"LABEL_{i}" if generic_labels else label) for i, label in enumerate(labels)}
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        type_vocab_size=token_types,
        pad_token_id=tokenizer.pad_token_id,
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
    )
    model = BertForSequenceClassification(config)
    targets = [
        [float(r.label == label) for label in labels]
        if r.label in labels
        else [1 / len(labels)] * len(labels)
        for r in reviews
    ]
    texts = [r.text for r in reviews]
    _fit(model, tokenizer, texts, targets, train_steps)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if rating_head:
        _fit_rating_head(model, tokenizer, texts, [r.rating for r in reviews]).save(out)
    return out


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tensors this small gain nothing from a thread pool, which only contends for shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _fit(model, tokenizer, texts: list[str], targets: list[list[float]], steps: int) -> None:
    """A few full-batch Adam steps towards the target class probabilities."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    target = torch.tensor(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    with _one_thread():
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(**batch).logits, target).backward()
            optimizer.step()
    model.eval()


def _fit_rating_head(
    model, tokenizer, texts: list[str], ratings: list[int], steps: int = 200
) -> RatingHead:
    """A 10-way head over the fitted model's pooled output, learning the reviews' ratings, then
    calibrated on them (the sample reviews are the tiny model's dev set too). The encoder stays
    as fitted, so the head changes none of the model's labels."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    head = torch.nn.Linear(model.config.hidden_size, 10)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    target = torch.tensor(ratings) - 1
    with _one_thread():
        with torch.no_grad():
            pooled = model.dropout(model.bert(**batch).pooler_output)
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(head(pooled), target).backward()
            optimizer.step()
        with torch.no_grad():
            logits = head(pooled).numpy()
    calibration, dev = fit_calibration(logits, np.array(ratings))
    weights = RatingHead(head.weight.detach().numpy(), head.bias.detach().numpy())
    return weights.calibrated(calibration, dev)


def main(options: TinyOptions) -> int:
    """`python -m training tiny`: the checkpoint written to OUT_DIR, whose path is printed."""
    path = build_tiny_checkpoint(
        options.out_dir,
        options.labels.split(","),
        generic_labels=options.generic_labels,
        rating_head=options.rating_head,
    )
    print(path)
    return 0
