"""Data files of paperpress, read with importlib.resources.

metaverse-avatars.jsonl is the embedded archive: the arXiv metadata (CC0 1.0, arXiv's licence for its
metadata) of what a public daily digest blog listed under 元宇宙/虚拟人 on 37 days of 2024, 144 listings,
the six papers of the seed post of 2024-04-01 among them. Nothing in it is written by a language model.
"""
