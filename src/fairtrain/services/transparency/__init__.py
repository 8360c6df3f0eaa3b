"""Transparency: training-data summaries, "was my work used?" lookups, and checks of model outputs."""
