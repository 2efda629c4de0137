"""Compares a safetensors tensor with the fixture's expected one: prints the largest difference relative to
the expected values' largest magnitude (the measure the tests use).

    python3 compare_outputs.py GOT.safetensors EXPECTED.safetensors NAME
"""
import sys

from safetensors.torch import load_file

got = load_file(sys.argv[1])[sys.argv[3]].double()
expected = load_file(sys.argv[2])[sys.argv[3]].double()
print(f"{((got - expected).abs().max() / expected.abs().max()).item():.3e}")
