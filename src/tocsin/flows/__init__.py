"""Use cases that span domains, each a short function with numbered steps.

The domains below (incidents, notify, alerts, oncall) each keep their own tables and never
import one another's internals; a use case that needs several of them lives here. The
routes, the console, the CLI's direct commands and the engine call these flows, never a
chain of domain calls of their own.
"""
