"""Numbered SQL migrations (`NNNN_name.sql`); never edit one that has shipped, add the next number."""
