"""The NumPy core: convolution and pooling with PyTorch's semantics. Pure: arrays in,
arrays out; no Pillow, no printing."""
