"""The model runtime: load a model (shipped name, exported .onnx, third-party backend, or a
checkpoint) and run batched inference on ONNX Runtime.

Evaluation, prediction, the live path and the server all sit on this layer; it imports nothing
above it. It needs no PyTorch: only a training checkpoint (.pt) is exported on the fly, which
needs the training extra.
"""
