"""Ecological environment control units (三线一单 / 环境管控单元) and their
negative lists of industries."""
