"""HubSpot contacts, custom properties and static lists, through hubspot-api-client."""

from syncs.destinations.hubspot.destination import HubSpotDestination
from syncs.destinations.hubspot.settings import HubSpotSettings

__all__ = ["HubSpotDestination", "HubSpotSettings"]
