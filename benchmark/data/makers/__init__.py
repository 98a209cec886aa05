"""The makers of the shipped samples (run by hand: nothing imports them when training)."""
