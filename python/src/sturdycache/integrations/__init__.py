"""Adapters that let existing frameworks use sturdycache."""
