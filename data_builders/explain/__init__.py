"""Mask-grounded explanation synthesis (the location words come from ``xforge.location``)."""

from data_builders.explain.explainer import Explanation, check_grounding, explain, rng_for, where_phrase
from data_builders.explain.facts import EditFacts, facts_from

__all__ = ["EditFacts", "Explanation", "check_grounding", "explain", "facts_from", "rng_for", "where_phrase"]
