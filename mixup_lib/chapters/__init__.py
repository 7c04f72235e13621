"""Computations behind the book's chapters that are more than a few lines: evidence as plain numbers, verdicts."""
