"""Gmail through its REST API: OAuth tokens (:mod:`.oauth`), quota (:mod:`.quota`), batch requests
(:mod:`.batch`, sans-IO) and the client (:mod:`.client`). See docs/adr/0007-gmail.md.
"""
