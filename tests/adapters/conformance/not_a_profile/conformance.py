"""A profile written as a plain dict: the kit must say so rather than fail obscurely."""

PROFILE = {"factory": None, "settings": {}, "samples": []}
