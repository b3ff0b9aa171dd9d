"""``clearcut bench quality``: how good the cut-outs are, offline (no pipeline needed)."""
