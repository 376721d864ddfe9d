"""Fixtures shared by the training-side tests."""

from pathlib import Path

import pytest

from training.tiny import write_sample_reviews


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory in the layout of ../shared/data/naver-movie-reviews, from the sample
    reviews (the dev split repeats the training reviews, so a tiny model can learn them)."""
    directory = tmp_path_factory.mktemp("reviews")
    write_sample_reviews(directory / "train.tsv.gz", copies=6)
    write_sample_reviews(directory / "dev.tsv.gz", copies=1)
    return directory
