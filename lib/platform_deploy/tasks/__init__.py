"""Thin Invoke task modules, one per namespace: parse, load, call one library function, print."""
