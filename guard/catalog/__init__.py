"""Endpoint catalog: is this destination an internet AI service, which one, what is the request
doing there (activity), and may this sender do it (access)?

Each service carries facts (operator, country, CAC filing, training on inputs, enterprise tenant)
with a source note; `access_rules` key access on those facts, so a policy reads "foreign services
block for 涉密 units" instead of listing every foreign service."""
from guard.catalog.load import DEFAULT_CATALOG, load_catalog, parse_access
from guard.catalog.model import (ACCESS, ACK_HOST, ACTIVITIES, CLOUD_DOMAINS, DOMESTIC, KINDS, NO_FACTS, SHAPES,
                                 UNKNOWN, Access, AccessRule, Answer, Catalog, Facts, Service, facts_line)

__all__ = ["ACCESS", "ACK_HOST", "ACTIVITIES", "CLOUD_DOMAINS", "DEFAULT_CATALOG", "DOMESTIC", "KINDS", "NO_FACTS",
           "SHAPES", "UNKNOWN", "Access", "AccessRule", "Answer", "Catalog", "Facts", "Service", "load_catalog",
           "parse_access", "facts_line"]
