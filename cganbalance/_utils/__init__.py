"""What every layer of cganbalance shares, written once: randomness, devices, progress bars,
image layout and pixel scaling, and the one rule for matching class names.

Nothing here imports from the rest of the package.
"""
