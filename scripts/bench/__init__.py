"""The serving benchmark (`make bench`, `python -m scripts.bench`) and its parts."""
