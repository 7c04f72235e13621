"""What the book shows: every panel (:mod:`.plots`) and every HTML table or notice (:mod:`.tables`).

A leaf: it draws and formats given numbers and imports no chapter, run store or trainer.
"""
