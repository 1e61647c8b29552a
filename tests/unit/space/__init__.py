"""Tests of hyctas.space."""
