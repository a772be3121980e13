"""Integrations of moescope.watch with training frameworks: transformers (MoescopeCallback)
and Lightning (MoescopeLightningCallback). Each imports its framework only when used."""
