"""The service desk: teams, agents, routing, assignment, SLA clocks, canned responses and CSAT."""
