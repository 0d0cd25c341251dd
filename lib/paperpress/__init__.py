"""paperpress: daily arXiv digests as papermill-executed notebooks rendered by Quarto."""

__version__ = "0.1.0"
