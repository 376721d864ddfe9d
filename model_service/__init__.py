"""The inference service: an INT8 ONNX Korean sentiment classifier behind BentoML."""
