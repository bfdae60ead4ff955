"""Braze user profiles through /users/track: attributes, and audiences as an array attribute."""

from syncs.destinations.braze.destination import AUDIENCES_ATTRIBUTE, BrazeDestination
from syncs.destinations.braze.settings import BrazeSettings

__all__ = ["AUDIENCES_ATTRIBUTE", "BrazeDestination", "BrazeSettings"]
