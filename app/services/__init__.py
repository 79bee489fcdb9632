"""Use cases: plain functions, tenant first, keyword-only options, own transactions."""
