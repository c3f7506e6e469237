"""Sample data shipped with riverbot: `registry/` is a whole sample county (areas, reaches, chiefs).

A package only so that the files travel in the wheel as package data (`riverbot demo-data` reads them); in a
checkout they are the same files at examples/registry/.
"""
