"""The processor's pure core: image decoding rules, tensor maths, composition, decisions.

Nothing here performs I/O; every function works on bytes, arrays and plain data.
"""
