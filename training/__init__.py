"""The sentiment model's life cycle: data, tokenizer, training, export/quantize/gate, bundle,
evaluation and registration, as one command line (`python -m training --help`).

Depends on `model_service.inference` (the one path from bundle to prediction) and never on the
gateway, the UI, the tests or scripts/.
"""
