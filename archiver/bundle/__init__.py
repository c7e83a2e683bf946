"""Evidence bundles: a report's captures as one signed WACZ file (wacz.py), the key that signs
them (keys.py), and checking a bundle with nothing but the file (check.py)."""
