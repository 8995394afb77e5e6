"""Profiles: customers, their identifiers, the identity graph, merges and traits."""

from omnicx.profiles.identifiers import normalize, normalize_email, normalize_phone
from omnicx.profiles.identity import IdentityFacts, Resolution, resolve
from omnicx.profiles.messages import ProfileCreated, ProfilesMerged, ProfileUnmerged, TraitsChanged
from omnicx.profiles.model import Conflict, Identifier, IdentityRules, Merge, Profile, TraitValue
from omnicx.profiles.ports import ProfileRepository
from omnicx.profiles.services import (
    find_profile,
    lookup_profile,
    search_profiles,
    undo_merge,
)
from omnicx.profiles.writer import ProfileWriter

__all__ = [
    "Conflict",
    "Identifier",
    "IdentityFacts",
    "IdentityRules",
    "Merge",
    "Profile",
    "ProfileCreated",
    "ProfileRepository",
    "ProfileUnmerged",
    "ProfileWriter",
    "ProfilesMerged",
    "Resolution",
    "TraitValue",
    "TraitsChanged",
    "find_profile",
    "lookup_profile",
    "normalize",
    "normalize_email",
    "normalize_phone",
    "resolve",
    "search_profiles",
    "undo_merge",
]
